"""conv2d in NumPy: im2col + GEMM, the column buffer filled im2col_step images
at a time (as mmcv's deformable conv does), one GEMM per group and image.

The column buffer of one image holds Cin * kh * kw rows of Ho * Wo pixels, kh
* kw / (sh * sw) times the input; materialising it for the whole batch would
cost more memory traffic than the GEMM that reads it.
"""

import numpy as np
from numpy.lib.stride_tricks import as_strided

from impls.conv2d.spec import im2col_geometry
from impls.registry import register


@register("conv2d", backend="numpy")
def conv2d(x, weight, bias, stride, padding, dilation, groups, im2col_step=None):
    n, cin, h, w = x.shape
    cout, _, kh, kw = weight.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    ho, wo, rows, step = im2col_geometry(x, weight, stride, padding, dilation, im2col_step)

    # Zero borders written once; each step overwrites only the interior.
    padded = np.zeros((step, cin, h + 2 * ph, w + 2 * pw), x.dtype) if ph or pw else None
    col = np.empty((step, groups, rows // groups, ho * wo), x.dtype)
    # (groups, Cout / groups, K) against (s, groups, K, Ho * Wo): matmul
    # broadcasts to one GEMM per (image, group), written straight into y.
    weight_rows = weight.reshape(groups, cout // groups, rows // groups)
    y = np.empty((n, cout, ho, wo), x.dtype)
    for n0 in range(0, n, step):
        s = min(step, n - n0)
        if padded is None:
            source = x[n0 : n0 + s]
        else:
            source = padded[:s]
            source[:, :, ph : ph + h, pw : pw + w] = x[n0 : n0 + s]
        sn, sc, sy, sx = source.strides
        # The window view: [image, channel, i, j, oh, ow] -> source pixel
        # (oh * sh + i * dh, ow * sw + j * dw); one copy turns it into columns.
        windows = as_strided(source, (s, cin, kh, kw, ho, wo),
                             (sn, sc, dh * sy, dw * sx, sh * sy, sw * sx), writeable=False)
        col[:s].reshape(s, cin, kh, kw, ho, wo)[...] = windows
        y_step = y[n0 : n0 + s].reshape(s, groups, cout // groups, ho * wo)
        np.matmul(weight_rows, col[:s], out=y_step)
        if bias is not None:  # added while this step's output is still in cache
            y_step += bias.reshape(groups, cout // groups, 1)
    return y
