"""causal_conv1d in pure Python: the definition, one output sample at a time."""

from impls.registry import register


@register("causal_conv1d", backend="python")
def causal_conv1d(x, weight, bias, dilation):
    cout, k, length = len(weight), len(weight[0][0]), len(x[0][0])
    y = []
    for sample in x:
        rows = []
        for o in range(cout):
            row = []
            for t in range(length):
                acc = bias[o] if bias is not None else 0.0
                for channel, taps in zip(sample, weight[o]):
                    for j in range(k):
                        source = t - (k - 1 - j) * dilation  # left zero padding: skip negative times
                        if source >= 0:
                            acc += taps[j] * channel[source]
                row.append(acc)
            rows.append(row)
        y.append(rows)
    return y
