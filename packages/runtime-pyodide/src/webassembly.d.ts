/**
 * The few WebAssembly JS API declarations this package uses. Node has the API, but the TypeScript
 * libraries chosen here (ES2022 without DOM) do not declare it.
 */
declare namespace WebAssembly {
  class Module {
    #private;
    constructor(bytes: BufferSource);
  }
  class Instance {
    readonly exports: Record<string, unknown>;
  }
  type Imports = Record<string, Record<string, unknown>>;
  function compile(bytes: BufferSource): Promise<Module>;
  function instantiate(module: Module, imports?: Imports): Promise<Instance>;
  function instantiate(bytes: BufferSource, imports?: Imports): Promise<{ module: Module; instance: Instance }>;
}

type BufferSource = ArrayBufferView | ArrayBuffer;
