import { describe, expect, it } from 'vitest';
import { outermost } from '../src/sandbox-launch.js';

describe('the sandbox process read grants', () => {
  it('keep only outermost directories: Node 20 drops the grant of /app itself when /app/node_modules is granted too', () => {
    // The layout of an npm-installed project with its database beside node_modules (the quick start).
    expect(outermost(['/app/node_modules', '/home/u/.cache/insitu', '/app'])).toEqual(['/home/u/.cache/insitu', '/app']);
    expect(outermost(['/app', '/app'])).toEqual(['/app']);
    expect(outermost(['/app-data', '/app'])).toEqual(['/app-data', '/app']);
  });
});
