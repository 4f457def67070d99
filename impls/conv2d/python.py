"""conv2d in pure Python: the definition, one output element at a time."""

from impls.registry import register


@register("conv2d", backend="python")
def conv2d(x, weight, bias, stride, padding, dilation, groups):
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    h, w = len(x[0][0]), len(x[0][0][0])
    cout, cin_per_group, kh, kw = len(weight), len(weight[0]), len(weight[0][0]), len(weight[0][0][0])
    cout_per_group = cout // groups
    ho = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    wo = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    y = []
    for image in x:
        planes = []
        for co in range(cout):
            group = co // cout_per_group
            channels = image[group * cin_per_group : (group + 1) * cin_per_group]
            taps = weight[co]
            plane = []
            for oh in range(ho):
                row = []
                for ow in range(wo):
                    acc = 0.0 if bias is None else bias[co]
                    for channel, channel_taps in zip(channels, taps):
                        for i in range(kh):
                            ih = oh * sh - ph + i * dh
                            if not 0 <= ih < h:  # zero padding contributes nothing
                                continue
                            x_row, w_row = channel[ih], channel_taps[i]
                            for j in range(kw):
                                iw = ow * sw - pw + j * dw
                                if 0 <= iw < w:
                                    acc += x_row[iw] * w_row[j]
                    row.append(acc)
                plane.append(row)
            planes.append(plane)
        y.append(planes)
    return y
