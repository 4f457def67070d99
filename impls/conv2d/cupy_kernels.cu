// conv2d's im2col on the GPU (CuPy): one thread per column-buffer entry,
// grid-stride. The GEMMs that consume the buffer run in cuBLAS (cupy.matmul)
// from cupy.py.
//
// The buffer of `images` images is (images, channels * kh * kw, out_h * out_w):
// entry (image, c, ki, kj, out_y, out_x) holds the input pixel that output
// (out_y, out_x) multiplies by weight tap (ki, kj) of channel c, or 0 where
// that tap falls in the zero padding:
//   col = x[image, c, out_y * stride_h - pad_h + ki * dilation_h,
//                     out_x * stride_w - pad_w + kj * dilation_w].
// Entries are numbered in the buffer's own order, so consecutive threads
// write consecutive addresses (and, for stride 1, read consecutive pixels).

// x (images, channels, height, width) contiguous; col as above; total =
// images * channels * kernel_h * kernel_w * out_h * out_w >= 1.
template <typename T>
__global__ void im2col_kernel(const T* __restrict__ x, long long total, long long channels, long long height,
                              long long width, long long kernel_h, long long kernel_w, long long stride_h,
                              long long stride_w, long long pad_h, long long pad_w, long long dilation_h,
                              long long dilation_w, long long out_h, long long out_w, T* __restrict__ col) {
  for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
       idx += (long long)gridDim.x * blockDim.x) {
    long long rest = idx;
    const long long out_x = rest % out_w;
    rest /= out_w;
    const long long out_y = rest % out_h;
    rest /= out_h;
    const long long kj = rest % kernel_w;
    rest /= kernel_w;
    const long long ki = rest % kernel_h;
    rest /= kernel_h;
    const long long c = rest % channels;
    const long long image = rest / channels;
    const long long in_y = out_y * stride_h - pad_h + ki * dilation_h;
    const long long in_x = out_x * stride_w - pad_w + kj * dilation_w;
    const bool inside = in_y >= 0 && in_y < height && in_x >= 0 && in_x < width;
    // The load sits behind the test: padding taps never touch memory.
    col[idx] = inside ? x[((image * channels + c) * height + in_y) * width + in_x] : T(0);
  }
}
