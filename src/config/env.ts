/** The environment as the service reads it: every parser takes it as an argument, none reads process.env itself. */
export type Env = Readonly<Record<string, string | undefined>>;

/** Reads the file a `*_FILE` variable names (a mounted secret). */
export type ReadFile = (path: string) => string;
