// Path helpers behind one module: node:path is built into Deno (no registry needed on the GPU machine).
export { basename, dirname, extname, isAbsolute, join, relative, resolve } from "node:path";
