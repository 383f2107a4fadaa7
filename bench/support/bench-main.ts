/** Shared bench plumbing: running a bench file directly. */

/** `node --import tsx bench/<name>.ts args…` runs main like `hpcdl bench <name> args…` does */
export function runIfMain(mod: NodeJS.Module, main: (argv: string[]) => Promise<number>): void {
  if (require.main !== mod) return;
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      console.error(e instanceof Error ? e.message : e);
      process.exit(1);
    },
  );
}
