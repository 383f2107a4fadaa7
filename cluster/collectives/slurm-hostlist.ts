/**
 * Slurm hostlist expressions ("nid[001-003,007],login1") to host names, for
 * when `scontrol show hostnames` is not at hand (it is tried first).
 */
import { execFileSync } from 'node:child_process';

/** split on commas outside brackets */
function topLevel(list: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < list.length; i++) {
    if (list[i] === '[') depth++;
    else if (list[i] === ']') depth--;
    else if (list[i] === ',' && depth === 0) {
      out.push(list.slice(start, i));
      start = i + 1;
    }
  }
  out.push(list.slice(start));
  return out.filter((s) => s.length > 0);
}

function expandOne(expr: string): string[] {
  const m = /^([^[]*)\[([^\]]+)\](.*)$/.exec(expr);
  if (!m) {
    if (/[[\]]/.test(expr)) throw new Error(`hostlist: malformed entry ${JSON.stringify(expr)}`);
    return [expr];
  }
  const [, prefix, ranges, rest] = m;
  const out: string[] = [];
  for (const part of ranges.split(',')) {
    const r = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!r) throw new Error(`hostlist: malformed range ${JSON.stringify(part)} in ${JSON.stringify(expr)}`);
    const width = r[1].length;
    const lo = Number(r[1]);
    const hi = r[2] === undefined ? lo : Number(r[2]);
    if (hi < lo) throw new Error(`hostlist: range ${part} runs backwards in ${JSON.stringify(expr)}`);
    for (let i = lo; i <= hi; i++) for (const tail of expandOne(rest)) out.push(`${prefix}${String(i).padStart(width, '0')}${tail}`);
  }
  return out;
}

/** every host of a hostlist expression, in order */
export function expandHostlist(list: string): string[] {
  return topLevel(list.trim()).flatMap(expandOne);
}

/** the first host of a Slurm node list: `scontrol show hostnames`, else the parser above */
export function firstHost(list: string): string {
  try {
    const out = execFileSync('scontrol', ['show', 'hostnames', list], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 });
    const first = out.split('\n').find((l) => l.trim());
    if (first) return first.trim();
  } catch {
    // no scontrol here (or it failed): parse it ourselves
  }
  const hosts = expandHostlist(list);
  if (hosts.length === 0) throw new Error(`hostlist ${JSON.stringify(list)} names no host`);
  return hosts[0];
}
