// The in-process half of the config fuzzer (test/fuzz/configs.ts), in a worker thread so that a
// case that hangs or exhausts memory can be stopped and reported while the run goes on: each case
// of its range through the validator under test (config-verdict.ts), one message per case.
import { parentPort, workerData } from 'node:worker_threads';
import { loadValidator, runCase, seedConfigsOf, type WorkerJob } from './config-verdict.js';

if (parentPort !== null) {
  const job = workerData as WorkerJob;
  const port = parentPort;
  const validate = await loadValidator(job.validator);
  const seeds = seedConfigsOf(job.seeds, validate);
  port.postMessage({ ready: true });
  for (let i = job.from; i < job.to; i++) port.postMessage(runCase(job, i, validate, seeds));
}
