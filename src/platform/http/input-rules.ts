import type { FieldError } from './validation.pipe';

/** Where swagger keeps a DTO property's options, `nullable` among them. */
const API_PROPERTY_METADATA = 'swagger/apiModelProperties';
// In a `u` regex a surrogate range matches only a surrogate that is not half of a pair.
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;
const MAX_DEPTH = 32;

type Metatype = abstract new (...args: never[]) => unknown;

/**
 * Rules that hold for every input of every route, checked before the DTO's own rules, so a
 * DTO cannot forget them: no string holds U+0000 (PostgreSQL refuses it in text) or a lone
 * surrogate (not Unicode, cannot be encoded as UTF-8), nothing is nested more than 32 levels
 * deep, a DTO is given an object, and a DTO property is null only when its OpenAPI property says
 * `nullable: true` (class-validator's `@IsOptional()` lets null through).
 */
export function inputRuleErrors(value: unknown, root: string, metatype?: Metatype): FieldError[] {
  return checkInput(value, root, metatype).errors;
}

/**
 * The same, and whether the input's shape is wrong (too deep, not an object for a DTO): the
 * DTO's own rules must not run on it then, class-transformer would overflow the stack.
 */
export function checkInput(
  value: unknown,
  root: string,
  metatype?: Metatype,
): { errors: FieldError[]; misshapen: boolean } {
  const errors: FieldError[] = [];
  const misshapen = !walkStrings(value, root, 0, errors);
  if (metatype && isDto(metatype) && (value === null || typeof value !== 'object' || Array.isArray(value))) {
    errors.push({ field: root, messages: [`${root || 'the body'} must be a JSON object`] });
    return { errors, misshapen: true };
  } else if (metatype && value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [key, item] of Object.entries(value)) {
      if (item === null && !isNullable(metatype, key)) {
        errors.push({ field: join(root, key), messages: [`${key} must not be null`] });
      }
    }
  }
  return { errors, misshapen };
}

/** Collects the string problems under `value`; false when it is nested too deeply to walk. */
function walkStrings(value: unknown, field: string, depth: number, errors: FieldError[]): boolean {
  if (typeof value === 'string') {
    const messages = stringProblems(value, field || 'value');
    if (messages.length) errors.push({ field, messages });
    return true;
  }
  if (value === null || typeof value !== 'object') return true;
  // class-transformer recurses without a bound: thousands of nested arrays overflow the stack.
  if (depth >= MAX_DEPTH) {
    errors.push({ field, messages: [`the input is nested more than ${MAX_DEPTH} levels deep`] });
    return false;
  }
  let walkable = true;
  for (const [key, item] of Object.entries(value)) {
    const path = join(field, key);
    const keyProblems = stringProblems(key, 'a field name');
    if (keyProblems.length) errors.push({ field: path, messages: keyProblems });
    walkable = walkStrings(item, path, depth + 1, errors) && walkable;
  }
  return walkable;
}

function stringProblems(value: string, name: string): string[] {
  const messages: string[] = [];
  if (value.includes('\u0000')) messages.push(`${name} must not contain the NUL character (U+0000)`);
  if (LONE_SURROGATE.test(value)) messages.push(`${name} must be well-formed Unicode (no lone surrogates)`);
  return messages;
}

const PRIMITIVES = new Set<unknown>([String, Number, Boolean, Object, Array]);
/** A class of the app's own (a DTO), not a built-in type such as `String` or `Object`. */
const isDto = (metatype: Metatype) => !PRIMITIVES.has(metatype);

function isNullable(metatype: Metatype, key: string): boolean {
  const options = Reflect.getMetadata(API_PROPERTY_METADATA, metatype.prototype as object, key) as
    { nullable?: boolean } | undefined;
  return options?.nullable === true;
}

const join = (parent: string, key: string) => (parent ? `${parent}.${key}` : key);
