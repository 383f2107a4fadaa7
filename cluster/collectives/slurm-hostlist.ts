/**
 * Slurm hostlist expressions, as `scontrol show hostnames` and `scontrol show
 * hostlist` (Slurm 22.05) read and write them, for when scontrol is not at hand:
 *
 *   nid[001-003,007],login1   → nid001 nid002 nid003 nid007 login1
 *   n[1-2]c[1-2]              → n1c1 n1c2 n2c1 n2c2   (several bracket groups: a product, in scontrol's order)
 *   a[8-10]                   → a8 a9 a10              (zero padding to the width of the range's start)
 *
 * Entries are separated by commas or white space outside brackets; empty ones
 * are skipped; order and duplicates are kept. Refused, as scontrol refuses
 * them: text after the last bracket group (`login[1-2]-ib`), an empty, negative,
 * non-numeric or backwards range. Also refused here, where scontrol prints
 * something odd instead: an unclosed `[`, a `]` without `[` after a group,
 * blanks inside brackets, and a bad range in an entry of three or more groups
 * (scontrol reports it and drops the entry).
 */
import { execFileSync } from 'node:child_process';

export class HostlistError extends Error {}

/** More hosts than this in one expression is refused (the largest machines have ~10^4 nodes). */
const MAX_HOSTS = 1_000_000;

/** split on commas and white space outside brackets; empty entries dropped */
function topLevel(list: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i <= list.length; i++) {
    const c = list[i];
    if (c === '[') depth++;
    else if (c === ']') depth = Math.max(0, depth - 1);
    else if (i === list.length || (depth === 0 && (c === ',' || /\s/.test(c)))) {
      out.push(list.slice(start, i));
      start = i + 1;
    }
  }
  return out.filter((s) => s.length > 0);
}

function bad(list: string, why: string): HostlistError {
  return new HostlistError(`invalid hostlist ${JSON.stringify(list)}: ${why}`);
}

/** the numbers of one bracket group's body ("001-003,007"), printed at the width of each range's start */
function rangeValues(body: string, list: string): string[] {
  const out: string[] = [];
  for (const part of body.split(',')) {
    // `lo-` (nothing after the dash) is `lo`, as scontrol reads it
    const r = /^(\d+)(?:-(\d*))?$/.exec(part);
    if (!r) throw bad(list, `range ${JSON.stringify(part)} is not N or N-M`);
    const width = r[1].length;
    const lo = Number(r[1]);
    const hi = r[2] === undefined || r[2] === '' ? lo : Number(r[2]);
    if (hi < lo) throw bad(list, `range ${part} runs backwards`);
    if (out.length + (hi - lo + 1) > MAX_HOSTS) throw bad(list, `more than ${MAX_HOSTS} hosts`);
    for (let i = lo; i <= hi; i++) out.push(String(i).padStart(width, '0'));
  }
  return out;
}

function expandEntry(entry: string, list: string): string[] {
  if (!entry.includes('[')) return [entry];
  // text, [group], text, [group], ... with nothing after the last group
  const pieces: string[][] = [];
  let rest = entry;
  while (rest.length) {
    const open = rest.indexOf('[');
    if (open < 0) throw bad(list, `text ${JSON.stringify(rest)} after the last bracket group of ${JSON.stringify(entry)}`);
    const close = rest.indexOf(']', open);
    if (close < 0) throw bad(list, `unclosed '[' in ${JSON.stringify(entry)}`);
    const text = rest.slice(0, open);
    if (text.includes(']')) throw bad(list, `']' without '[' in ${JSON.stringify(entry)}`);
    pieces.push([text]);
    pieces.push(rangeValues(rest.slice(open + 1, close), list));
    rest = rest.slice(close + 1);
  }
  const texts = pieces.filter((_, i) => i % 2 === 0).map((p) => p[0]);
  const groups = pieces.filter((_, i) => i % 2 === 1);
  if (groups.reduce((n, g) => n * g.length, 1) > MAX_HOSTS) throw bad(list, `more than ${MAX_HOSTS} hosts`);
  // scontrol's order (measured, 22.05): the last group varies fastest; the others nest in reverse,
  // the second-to-last slowest: a[1-2]b[1-2]c[1-2] → a1b1c1 a1b1c2 a2b1c1 a2b1c2 a1b2c1 ...
  const order = [...groups.keys()].slice(0, -1).reverse().concat(groups.length - 1);
  let tuples: number[][] = [[]];
  for (const g of order) tuples = tuples.flatMap((t) => groups[g].map((_, v) => [...t, v]));
  return tuples.map((t) => {
    const value = (g: number): string => groups[g][t[order.indexOf(g)]];
    return texts.map((text, g) => text + value(g)).join('');
  });
}

/** every host of a hostlist expression, in order (`scontrol show hostnames`) */
export function expandHostlist(list: string): string[] {
  const hosts = topLevel(list).flatMap((entry) => expandEntry(entry, list));
  if (hosts.length > MAX_HOSTS) throw bad(list, `more than ${MAX_HOSTS} hosts`);
  return hosts;
}

interface Numbered {
  prefix: string;
  digits: string;
}

function split(host: string): Numbered | null {
  const m = /^(.*?)(\d+)$/.exec(host);
  return m ? { prefix: m[1], digits: m[2] } : null;
}

/**
 * Hosts to a hostlist expression, as `scontrol show hostlist` writes it: runs
 * of neighbouring hosts with the same prefix share one bracket group, and
 * consecutive numbers in it become ranges; order and duplicates are kept.
 */
export function compressHostlist(hosts: string[]): string {
  const out: string[] = [];
  let i = 0;
  while (i < hosts.length) {
    const first = split(hosts[i]);
    if (!first) {
      out.push(hosts[i++]);
      continue;
    }
    const run: string[] = [];
    while (i < hosts.length) {
      const next = split(hosts[i]);
      if (!next || next.prefix !== first.prefix) break;
      run.push(next.digits);
      i++;
    }
    if (run.length === 1) {
      out.push(first.prefix + run[0]);
      continue;
    }
    const ranges: string[] = [];
    let lo = 0;
    for (let k = 1; k <= run.length; k++) {
      const continues = k < run.length && Number(run[k]) === Number(run[k - 1]) + 1 && String(Number(run[k])).padStart(run[lo].length, '0') === run[k];
      if (continues) continue;
      ranges.push(k - 1 === lo ? run[lo] : `${run[lo]}-${run[k - 1]}`);
      lo = k;
    }
    out.push(`${first.prefix}[${ranges.join(',')}]`);
  }
  return out.join(',');
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
