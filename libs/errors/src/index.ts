// libs/errors: the operating-error family shared by every lib and app (operating-error.ts).
export * from './operating-error';
