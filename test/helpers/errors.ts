// The error a call throws, typed, for assertions on its fields (fails the test when nothing is thrown).
export function errorOf<E extends Error>(f: () => unknown): E {
  try {
    f();
  } catch (e) {
    return e as E;
  }
  throw new Error('expected an error');
}
