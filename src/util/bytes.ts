/** `TypedArray.prototype.set`, looked up once. */
const typedArraySet = Uint8Array.prototype.set;

/**
 * Copies `src` into `dst` at `at`: `dst.set(src, at)`, without looking `set` up on `dst`
 * at each call. On a Buffer that lookup goes through `Buffer.prototype`, which V8's
 * optimizing compiler does not take as constant (node gives it its methods at run time),
 * so optimized code made a call to the property-load builtin (`LoadIC`) for every copy:
 * 2-3 per message sent. Calling the builtin through `call` with a constant function
 * compiles to a direct call.
 */
export function copyInto(dst: Uint8Array, src: Uint8Array, at: number): void {
  typedArraySet.call(dst, src, at);
}
