import { badInput } from '@insitu/core';

/**
 * The arguments of `CREATE VIRTUAL TABLE t USING module(arg, ...)`: SQLite hands them to the module as
 * their raw text, so SQL literals are read here: 'text' (with '' for a quote), numbers, NULL. Anything
 * else (an expression, a bare word) is BAD_INPUT: module arguments are not evaluated.
 */
export function parseModuleArg(raw: string, position: number): string | number | null {
  const text = raw.trim();
  if (/^'(?:[^']|'')*'$/s.test(text)) return text.slice(1, -1).replace(/''/g, "'");
  if (/^[+-]?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(text)) return Number(text);
  if (/^null$/i.test(text)) return null;
  throw badInput(`argument ${position} of the virtual table, ${text.length > 60 ? `${text.slice(0, 60)}…` : text}, is not a SQL literal: give 'text' (quotes doubled inside), a number or NULL (module arguments are not evaluated)`);
}
