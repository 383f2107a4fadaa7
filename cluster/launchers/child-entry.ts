/**
 * Process entry for controllers and engines started by launchers:
 * `child-entry controller ...` → controllerMain, `child-entry engine ...` → engineMain.
 * With HPCDL_PARENT_PID set, the process stops itself when that parent is gone,
 * so a client killed with SIGKILL leaves no orphan controller or engines behind.
 */
import * as path from 'node:path';

type MainFn = (argv: string[]) => Promise<number>;

function loadMain(sub: string): MainFn {
  const ext = path.extname(__filename);
  if (sub === 'engine') return (require(path.join(__dirname, '..', 'engine', `cli${ext}`)) as { engineMain: MainFn }).engineMain;
  if (sub === 'controller') {
    return (require(path.join(__dirname, '..', 'controller', `cli${ext}`)) as { controllerMain: MainFn }).controllerMain;
  }
  throw new Error(`unknown process kind "${sub}" (expected engine or controller)`);
}

/** How often a child checks its parent (a getppid and a kill(0): microseconds). */
const PARENT_CHECK_MS = 100;
/** After SIGTERM, a child that has not finished its orderly stop by then exits anyway. */
const STOP_DEADLINE_MS = 600;

function watchParent(): void {
  const parentPid = Number(process.env.HPCDL_PARENT_PID);
  if (!Number.isInteger(parentPid) || parentPid <= 1) return;
  const timer = setInterval(() => {
    let alive = process.ppid === parentPid;
    try {
      if (alive) process.kill(parentPid, 0);
    } catch {
      alive = false;
    }
    if (!alive) {
      clearInterval(timer);
      process.stderr.write(`hpcdl: parent process ${parentPid} is gone; stopping\n`);
      process.kill(process.pid, 'SIGTERM');
      setTimeout(() => process.exit(1), STOP_DEADLINE_MS).unref();
    }
  }, PARENT_CHECK_MS);
  timer.unref();
}

const [sub, ...argv] = process.argv.slice(2);
watchParent();
Promise.resolve()
  .then(() => loadMain(sub)(argv))
  .then(
    (code) => process.exit(code),
    (err) => {
      process.stderr.write(`hpcdl ${sub}: ${(err as Error).stack ?? err}\n`);
      process.exit(1);
    },
  );
