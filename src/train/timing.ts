/**
 * CosmicTagger's end-of-run timing summary (trainercore.batch_process):
 * total time, and time and throughput without the first one or two
 * iterations and over the last 40.
 */
export function throughputLines(iterationSeconds: number[], imagesPerIteration: number): string[] {
  const n = iterationSeconds.length;
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  const total = sum(iterationSeconds);
  const line = (label: string, seconds: number, iterations: number) =>
    `Total time to batch process ${label}: ${seconds.toFixed(4)}, throughput: ${
      seconds > 0 ? ((iterations * imagesPerIteration) / seconds).toFixed(4) : 'n/a'
    }`;
  const lines = [`Total time to batch_process: ${total.toFixed(4)}`];
  if (n > 1) lines.push(line('except first iteration', sum(iterationSeconds.slice(1)), n - 1));
  if (n > 2) lines.push(line('except first two iterations', sum(iterationSeconds.slice(2)), n - 2));
  if (n > 40) lines.push(line('last 40 iterations', sum(iterationSeconds.slice(-40)), 40));
  return lines;
}

/** Images per second over the iterations after the first two (the CosmicTagger figure of merit). */
export function steadyThroughput(iterationSeconds: number[], imagesPerIteration: number): number | undefined {
  const rest = iterationSeconds.length > 2 ? iterationSeconds.slice(2) : iterationSeconds;
  const seconds = rest.reduce((a, b) => a + b, 0);
  return seconds > 0 ? (rest.length * imagesPerIteration) / seconds : undefined;
}

