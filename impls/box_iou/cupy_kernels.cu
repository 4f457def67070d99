// box_iou on the GPU (CuPy). A block owns a tile of kRowsPerTile rows of
// boxes1 by blockDim.x columns of boxes2:
// - each thread loads its column's box of boxes2 (and its area) once, into
//   registers, and reuses it for every row of every tile the block visits;
// - the tile's rows of boxes1 (and their areas) are staged in shared memory
//   by the first kRowsPerTile threads, then read by all (a broadcast);
// - consecutive threads write consecutive columns of one output row, so
//   every store of a warp is one coalesced transaction.
// Row tiles beyond gridDim.y * kRowsPerTile are visited grid-stride.

// Rows per tile: each thread then writes 32 outputs per staged tile, which
// amortises the two barriers; blockDim.x must be >= kRowsPerTile.
constexpr int kRowsPerTile = 32;

template <typename T>
__device__ __forceinline__ T box_area(T x1, T y1, T x2, T y2) {
  return (x2 - x1) * (y2 - y1);
}

// IoU = inter / (area_a + area_b - inter), and 0 where that union is 0 (two
// zero-area boxes), as impls/boxes.py defines it. NVRTC contracts products
// into sums (FMA) by default, which can leave identical boxes a union an ulp
// below their intersection: inter is clamped to the union, so IoU <= 1.
template <typename T>
__device__ __forceinline__ T iou_pair(T ax1, T ay1, T ax2, T ay2, T area_a, T bx1, T by1, T bx2, T by2, T area_b) {
  T w = (ax2 < bx2 ? ax2 : bx2) - (ax1 > bx1 ? ax1 : bx1);
  T h = (ay2 < by2 ? ay2 : by2) - (ay1 > by1 ? ay1 : by1);
  w = w > T(0) ? w : T(0);
  h = h > T(0) ? h : T(0);
  T inter = w * h;
  const T uni = area_a + area_b - inter;
  inter = inter < uni ? inter : uni;
  return uni > T(0) ? inter / uni : T(0);
}

// boxes1 (n, 4), boxes2 (m, 4), iou (n, m); n, m >= 1.
// Grid: x = ceil(m / blockDim.x) column tiles; y = row tiles (grid-stride).
template <typename T>
__global__ void box_iou_kernel(const T* __restrict__ boxes1, long long n, const T* __restrict__ boxes2, long long m,
                               T* __restrict__ iou) {
  __shared__ T rows[kRowsPerTile][5];  // x1, y1, x2, y2, area of the tile's boxes1 rows

  const long long j = blockIdx.x * (long long)blockDim.x + threadIdx.x;
  const bool has_column = j < m;
  T bx1 = T(0), by1 = T(0), bx2 = T(0), by2 = T(0), area_b = T(0);
  if (has_column) {
    const T* b = boxes2 + 4 * j;
    bx1 = b[0], by1 = b[1], bx2 = b[2], by2 = b[3];
    area_b = box_area(bx1, by1, bx2, by2);
  }

  // row0 depends on the block only, so every thread of the block runs the
  // same iterations and reaches both barriers (threads without a column too).
  for (long long row0 = blockIdx.y * (long long)kRowsPerTile; row0 < n;
       row0 += (long long)gridDim.y * kRowsPerTile) {
    const int tile_rows = (n - row0 < kRowsPerTile) ? (int)(n - row0) : kRowsPerTile;
    __syncthreads();  // every thread is done with the previous tile's rows
    if (threadIdx.x < tile_rows) {
      const T* a = boxes1 + 4 * (row0 + threadIdx.x);
      rows[threadIdx.x][0] = a[0];
      rows[threadIdx.x][1] = a[1];
      rows[threadIdx.x][2] = a[2];
      rows[threadIdx.x][3] = a[3];
      rows[threadIdx.x][4] = box_area(a[0], a[1], a[2], a[3]);
    }
    __syncthreads();
    if (has_column) {
      T* out = iou + row0 * m + j;
      for (int r = 0; r < tile_rows; ++r) {
        out[r * m] = iou_pair(rows[r][0], rows[r][1], rows[r][2], rows[r][3], rows[r][4], bx1, by1, bx2, by2, area_b);
      }
    }
  }
}
