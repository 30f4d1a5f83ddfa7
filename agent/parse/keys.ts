/**
 * Keys that would reach into an object's prototype when used as a property name. Every place the
 * parser reads or copies a key chosen by a device (field paths, template variables, attrs) skips
 * them, so a payload cannot pollute prototypes or read inherited members.
 */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(["__proto__", "constructor", "prototype"]);
