"""GPU-pinned workers: NVML access, pinning, telemetry sampling and back-pressure.

Layers, each usable on its own (see DESIGN.md § "GPU-pinned workers and telemetry"):

- `nvml`: a thin wrapper over nvidia-ml-py (module `pynvml`) that takes the module as a
  parameter, so unit tests pass `tests/fake_nvml.py`; `open_nvml()` is None on a host with
  no GPU or no NVML, after one log line `gpu: none (<reason>)`.
- `sample`: one reading of one GPU, named and measured like NVIDIA's DCGM exporter.
- `pinning`: `CUDA_VISIBLE_DEVICES` for one GPU, chosen by index or UUID, and the worker's name.
- `telemetry`: the background thread that samples the pinned GPU into Redis and Postgres.
- `backpressure`: pause/resume the queue consumer when VRAM or temperature runs high.

Nothing here imports torch or initialises CUDA: NVML is a separate library that does not.
"""
