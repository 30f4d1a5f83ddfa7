#!/usr/bin/env node
import module from "node:module";

// Start-up on a Pi is mostly compiling JavaScript (zod, aedes, pino, prom-client). Node 22.1+ can
// keep the compiled code on disk: NODE_COMPILE_CACHE names the folder (the systemd unit gives it
// one), else Node's temp folder. Node 20 has no such cache and starts as before. It must run
// before the commands and their dependencies are imported, hence this small entry point.
const enableCompileCache = (module as { enableCompileCache?: (dir?: string) => unknown }).enableCompileCache;
if (process.env.EDGESPOOL_NO_COMPILE_CACHE === undefined) enableCompileCache?.();

await import("./commands.js");
