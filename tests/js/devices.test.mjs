import { test } from "node:test";
import assert from "node:assert/strict";
import { CPU_ONLY, deviceChoices, exampleDevice, keptChoice } from "../../static/js/devices.js";

const absent = { devices: [
  { id: "cpu", available: true, label: "cpu" },
  { id: "cuda", available: false, reason: "this host has no NVIDIA GPU" }] };
const found = { devices: [
  { id: "cpu", available: true, label: "cpu" },
  { id: "cuda", available: true, label: "cuda:0 · NVIDIA H100 · 80 GiB" }] };

test("an absent CUDA is listed, cannot be chosen, and says why", () => {
  const [cpu, cuda] = deviceChoices(absent);
  assert.deepEqual([cpu.value, cpu.disabled], ["cpu", false]);
  assert.equal(cuda.disabled, true);
  assert.equal(cuda.label, "cuda — unavailable: this host has no NVIDIA GPU");
  assert.match(cuda.title, /no NVIDIA GPU/);
});

test("a GPU that was found is named", () => {
  const cuda = deviceChoices(found)[1];
  assert.deepEqual([cuda.value, cuda.disabled, cuda.label],
                   ["cuda", false, "cuda:0 · NVIDIA H100 · 80 GiB"]);
  assert.deepEqual(deviceChoices(CPU_ONLY).map((c) => c.value), ["cpu"]);
});

test("the choice survives an update only where it may still run", () => {
  assert.equal(keptChoice(deviceChoices(found), "cuda"), "cuda");
  assert.equal(keptChoice(deviceChoices(absent), "cuda"), "cpu");
  assert.equal(keptChoice(deviceChoices(found), "tpu"), "cpu");
});

test("gpu examples ask for cuda; the others leave the choice alone", () => {
  assert.equal(exampleDevice("gpu/cuda_matmul"), "cuda");
  assert.equal(exampleDevice("basics/seed"), null);
});
