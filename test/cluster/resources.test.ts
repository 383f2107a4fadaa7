/** Resource sampling from this machine's /proc, and the parsers against known text. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as os from 'node:os';
import { ResourceSampler, parseDiskstats, parseMeminfo, parseNetDev, parseNvidiaSmi, parseProcStat, queryGpus, describeNode } from '../../cluster/engine/resources';

test('parseProcStat reads the total and per-core busy/total jiffies', () => {
  const text = 'cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 60 0 20 400 20 0 0 0 0 0\ncpu1 40 0 30 400 30 0 0 0 0 0\nintr 1 2 3\n';
  const { all, cores } = parseProcStat(text);
  assert.deepEqual(all, { busy: 150, total: 1000 });
  assert.deepEqual(cores, [{ busy: 80, total: 500 }, { busy: 70, total: 500 }]);
});

test('parseMeminfo, parseNetDev (loopback excluded) and parseDiskstats (whole disks only)', () => {
  assert.deepEqual(parseMeminfo('MemTotal:       1000 kB\nMemFree:  10 kB\nMemAvailable:    250 kB\n'), { total: 1024000, available: 256000 });
  const net = `Inter-|   Receive |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:    9999      29    0    0    0     0          0         0     9999      29    0    0    0     0       0          0
  eth0:    1000    9638    0    0    0     0          0         0      300    5781    0    0    0     0       0          0
  eth1:      24       1    0    0    0     0          0         0       76       1    0    0    0     0       0          0`;
  assert.deepEqual(parseNetDev(net), { rx: 1024, tx: 376 });
  const disks = [
    '   8       0 sda 100 0 10 0 50 0 20 0 0 0 0',
    '   8       1 sda1 100 0 10 0 50 0 20 0 0 0 0',
    '   7       0 loop0 5 0 99 0 0 0 99 0 0 0 0',
    ' 259       0 nvme0n1 1 0 2 0 1 0 4 0 0 0 0',
    ' 259       1 nvme0n1p1 1 0 2 0 1 0 4 0 0 0 0',
  ].join('\n');
  assert.deepEqual(parseDiskstats(disks), { read: (10 + 2) * 512, write: (20 + 4) * 512 });
});

test('parseNvidiaSmi reads the csv query output', () => {
  const gpus = parseNvidiaSmi('0, NVIDIA A100-SXM4-40GB, 37, 1024, 40960\n1, NVIDIA A100-SXM4-40GB, 0, 0, 40960\n');
  assert.equal(gpus.length, 2);
  assert.deepEqual(gpus[0], { index: 0, name: 'NVIDIA A100-SXM4-40GB', utilization_percent: 37, memory_used_bytes: 1024 * 1048576, memory_total_bytes: 40960 * 1048576 });
});

test('a node without nvidia-smi reports no GPUs, not an error', async () => {
  const { gpus, available } = await queryGpus('/nonexistent/nvidia-smi');
  assert.deepEqual(gpus, []);
  assert.equal(available, false);
  const node = await describeNode({ nvidiaSmi: '/nonexistent/nvidia-smi' });
  assert.equal(node.cpus, os.cpus().length);
  assert.ok(node.memory_bytes > 0);
  assert.deepEqual(node.gpus, []);
});

test('the sampler samples this machine at the requested interval with per-core CPU and task usage', async () => {
  const sampler = new ResourceSampler({ intervalMs: 200, nvidiaSmi: '/nonexistent/nvidia-smi', taskUsage: () => [{ task_id: 't', cpu_percent: 1, memory_bytes: 2, elapsed_ms: 3 }] });
  const samples: ReturnType<ResourceSampler['sample']>[] = [];
  // some CPU work between samples so the counters move
  const burn = setInterval(() => {
    const end = Date.now() + 20;
    while (Date.now() < end);
  }, 40);
  await new Promise<void>((resolve) => {
    sampler.start((s) => {
      samples.push(s);
      if (samples.length === 3) resolve();
    });
  });
  sampler.stop();
  clearInterval(burn);
  const s = samples[2];
  assert.equal(s.cpu.cores.length, os.cpus().length);
  for (const c of s.cpu.cores) assert.ok(c >= 0 && c <= 100, `core percent ${c}`);
  assert.ok(s.cpu.total_percent > 0, 'CPU was busy between samples');
  assert.ok(s.memory.total_bytes > 0 && s.memory.available_bytes > 0 && s.memory.used_bytes > 0);
  assert.equal(s.load.length, 3);
  assert.ok(s.network.rx_bytes_per_s >= 0 && s.disk.write_bytes_per_s >= 0);
  assert.deepEqual(s.gpus, []);
  assert.ok(s.engine.rss_bytes > 0);
  assert.ok(s.engine.cpu_percent > 0, `this process burned CPU between samples: engine.cpu_percent ${s.engine.cpu_percent}`);
  assert.deepEqual(s.tasks, [{ task_id: 't', cpu_percent: 1, memory_bytes: 2, elapsed_ms: 3 }]);
  const gap = samples[2].time_ms - samples[1].time_ms;
  assert.ok(gap >= 150 && gap <= 600, `gap ${gap} ms at a 200 ms interval`);
});

test('by default the sampler samples at 1 Hz (not slower, not faster)', async () => {
  const sampler = new ResourceSampler({ nvidiaSmi: '/nonexistent/nvidia-smi' });
  const times: number[] = [];
  await new Promise<void>((resolve) => {
    const deadline = setTimeout(resolve, 4500); // three gaps at 1 Hz; at 0.2 Hz fewer than one
    sampler.start((s) => {
      times.push(s.time_ms);
      if (times.length === 4) {
        clearTimeout(deadline);
        resolve();
      }
    });
  });
  sampler.stop();
  assert.equal(times.length, 4, `${times.length} samples in 4.5 s`);
  for (let i = 1; i < times.length; i++) {
    const gap = times[i] - times[i - 1];
    assert.ok(gap >= 800 && gap <= 1600, `gap ${gap} ms between samples`);
  }
});

// Output formats nvidia-smi really produces for the query the sampler runs
// (`--query-gpu=index,name,utilization.gpu,memory.used,memory.total --format=csv,noheader,nounits`).
// There is no GPU on the CI machine: these are the driver's formats, not a run.
const MIB = 1024 * 1024;
const A100_NODE = [
  '0, NVIDIA A100-SXM4-40GB, 0, 0, 40960',
  '1, NVIDIA A100-SXM4-40GB, 87, 31245, 40960',
  '2, NVIDIA A100-SXM4-40GB, 100, 39012, 40960',
  '3, NVIDIA A100-SXM4-40GB, 0, 3, 40960',
  '',
].join('\n');

test('parseNvidiaSmi: a four-GPU node (Perlmutter-like A100 node)', () => {
  const gpus = parseNvidiaSmi(A100_NODE);
  assert.deepEqual(gpus.map((g) => g.index), [0, 1, 2, 3]);
  assert.deepEqual(gpus[1], { index: 1, name: 'NVIDIA A100-SXM4-40GB', utilization_percent: 87, memory_used_bytes: 31245 * MIB, memory_total_bytes: 40960 * MIB });
  assert.equal(gpus[2].utilization_percent, 100);
});

test('parseNvidiaSmi: values the driver cannot tell are null, not 0 ([N/A] in MIG mode, [Not Supported] on older drivers)', () => {
  const [mig] = parseNvidiaSmi('0, NVIDIA A100-SXM4-40GB, [N/A], 36537, 40960\n');
  assert.equal(mig.utilization_percent, null);
  assert.equal(mig.memory_used_bytes, 36537 * MIB);
  const [old] = parseNvidiaSmi('0, GeForce GTX 1080, [Not Supported], [Not Supported], 8119\n');
  assert.equal(old.utilization_percent, null);
  assert.equal(old.memory_used_bytes, null);
  assert.equal(old.memory_total_bytes, 8119 * MIB);
  const [perm] = parseNvidiaSmi('0, Tesla V100-SXM2-16GB, [Insufficient Permissions], 512, 16160\n');
  assert.equal(perm.utilization_percent, null);
});

test('parseNvidiaSmi: a header line, units, CRLF and non-GPU messages are handled', () => {
  const withHeader = 'index, name, utilization.gpu [%], memory.used [MiB], memory.total [MiB]\r\n0, Tesla V100-SXM2-16GB, 45 %, 1024 MiB, 16160 MiB\r\n';
  assert.deepEqual(parseNvidiaSmi(withHeader), [{ index: 0, name: 'Tesla V100-SXM2-16GB', utilization_percent: 45, memory_used_bytes: 1024 * MIB, memory_total_bytes: 16160 * MIB }]);
  assert.deepEqual(parseNvidiaSmi('No devices were found\n'), []);
  const driverDown = "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.\n\n";
  assert.deepEqual(parseNvidiaSmi(driverDown), []);
  assert.deepEqual(parseNvidiaSmi('0, Some, Board, 12, 100, 200\n')[0].name, 'Some, Board');
});

test('CUDA_VISIBLE_DEVICES narrows the GPUs an engine registers by physical index; --gpus wins; UUIDs leave all', async () => {
  const { engineGpus } = await import('../../cluster/engine/engine');
  const { gpuInfo } = await import('../../cluster/engine/resources');
  const found = gpuInfo(parseNvidiaSmi(A100_NODE));
  const idx = (gpus: { index: number }[]) => gpus.map((g) => g.index);
  assert.deepEqual(idx(engineGpus(found, undefined, undefined)), [0, 1, 2, 3]);
  // Slurm's --gpus-per-task=1 for the task on the third GPU: CUDA_VISIBLE_DEVICES=2
  assert.deepEqual(engineGpus(found, undefined, '2'), [{ index: 2, name: 'NVIDIA A100-SXM4-40GB', memory_bytes: 40960 * MIB }]);
  assert.deepEqual(idx(engineGpus(found, undefined, '1,3')), [1, 3]);
  assert.deepEqual(idx(engineGpus(found, undefined, ' 3 , 0 ')), [0, 3], 'the node order, spaces ignored');
  assert.deepEqual(idx(engineGpus(found, undefined, '')), [], 'empty hides every GPU');
  assert.deepEqual(idx(engineGpus(found, undefined, '-1')), [], '-1 hides every GPU');
  assert.deepEqual(idx(engineGpus(found, undefined, '7')), [], 'an index the node does not have');
  assert.deepEqual(idx(engineGpus(found, undefined, 'GPU-8d3a0c1e-5b6f-4a2b-9c1d-1e2f3a4b5c6d')), [0, 1, 2, 3], 'UUIDs cannot be matched to indexes');
  assert.deepEqual(idx(engineGpus(found, [1], '2')), [1], '--gpus wins over the environment');
  assert.deepEqual(engineGpus([], [5], undefined), [{ index: 5, name: 'GPU 5', memory_bytes: 0 }], '--gpus without nvidia-smi: named by index');
});
