"""wavenet_stream in the project's extension (csrc/ops/wavenet_stream*): the
fast-wavenet queues, the whole time loop in one native call.

CPU: per step and layer a (2C x 2C) matrix-vector product on the weights
packed once per call, and the gate with a vectorising float32 tanh/sigmoid.
The threads split the stack into a pipeline of layer groups, each group's
weights in its own core's L2, handing x_l[t] on through the rings with a
slack of 32 steps (one hand-over per step, not a barrier per layer); every
stage runs every sample of a batch. Small stacks run on one thread.
``threads`` (0: chosen) fixes the thread count, for tests. CUDA: one
persistent block per sample.
"""

from impls.backends.ext import ext_module
from impls.registry import register

_C = ext_module()


@register("wavenet_stream", backend="ext", device=("cpu", "cuda"))
def wavenet_stream(x, weights, biases, dilations, threads=0):
    return _C.wavenet_stream(x, weights, biases, list(dilations), threads)
