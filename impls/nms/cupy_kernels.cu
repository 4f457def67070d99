// nms on the GPU (CuPy), the 64-box bitmask scheme. The boxes arrive sorted
// by decreasing score (Python sorts stably, so equal scores keep the lower
// index first); position i below is a position in that order.
//
// 1. nms_mask_kernel: block (r, c) of a words x words grid compares the 64
//    boxes of row block r with the 64 of column block c and writes, for each
//    row box i, the word mask[i][c] whose bit j says "box i suppresses box
//    64 c + j" (IoU > threshold). Only c >= r is computed (a box is only ever
//    suppressed by a higher-scoring one); on the diagonal only j > i.
// 2. nms_reduce_kernel: one block walks the words in order and keeps a box
//    unless a kept box suppresses it, writing keep[i].

// One bit per box in a 64-bit word.
constexpr int kBoxesPerWord = 64;
// Independent mask loads each thread of the reduction keeps in flight.
constexpr int kLoadsInFlight = 8;

typedef unsigned long long mask_word;

// Does box a suppress box b?  IoU > threshold, asked without a division as
// inter > threshold * union: false where the union is 0 (two zero-area
// boxes), exact at IoU == threshold in the tests' exactly representable cases.
// inter is clamped to the union: with products contracted into FMAs (NVRTC's
// default) identical boxes could otherwise get a union an ulp below their
// intersection and suppress each other at a threshold of 1.
template <typename T>
__device__ __forceinline__ bool suppresses(T ax1, T ay1, T ax2, T ay2, T area_a, T bx1, T by1, T bx2, T by2, T area_b,
                                           T iou_threshold) {
  T w = (ax2 < bx2 ? ax2 : bx2) - (ax1 > bx1 ? ax1 : bx1);
  T h = (ay2 < by2 ? ay2 : by2) - (ay1 > by1 ? ay1 : by1);
  w = w > T(0) ? w : T(0);
  h = h > T(0) ? h : T(0);
  T inter = w * h;
  const T uni = area_a + area_b - inter;
  inter = inter < uni ? inter : uni;
  return inter > iou_threshold * uni;
}

// boxes (n, 4) sorted, n >= 1; mask (n, words) with words = ceil(n / 64).
// Grid (words, words), kBoxesPerWord threads. Entries mask[i][c] with c below
// i's own block are never written and never read.
template <typename T>
__global__ void nms_mask_kernel(const T* __restrict__ boxes, long long n, T iou_threshold,
                                mask_word* __restrict__ mask) {
  const long long row_block = blockIdx.y, col_block = blockIdx.x;
  if (col_block < row_block) return;  // the whole block leaves together, before any barrier
  const long long words = (n + kBoxesPerWord - 1) / kBoxesPerWord;
  const long long rows_left = n - row_block * kBoxesPerWord, cols_left = n - col_block * kBoxesPerWord;
  const int rows = rows_left < kBoxesPerWord ? (int)rows_left : kBoxesPerWord;
  const int cols = cols_left < kBoxesPerWord ? (int)cols_left : kBoxesPerWord;

  __shared__ T col_boxes[kBoxesPerWord][5];  // x1, y1, x2, y2, area
  if (threadIdx.x < cols) {
    const T* b = boxes + 4 * (col_block * kBoxesPerWord + threadIdx.x);
    col_boxes[threadIdx.x][0] = b[0];
    col_boxes[threadIdx.x][1] = b[1];
    col_boxes[threadIdx.x][2] = b[2];
    col_boxes[threadIdx.x][3] = b[3];
    col_boxes[threadIdx.x][4] = (b[2] - b[0]) * (b[3] - b[1]);
  }
  __syncthreads();
  if (threadIdx.x >= rows) return;

  const long long i = row_block * kBoxesPerWord + threadIdx.x;
  const T x1 = boxes[4 * i], y1 = boxes[4 * i + 1], x2 = boxes[4 * i + 2], y2 = boxes[4 * i + 3];
  const T area = (x2 - x1) * (y2 - y1);
  mask_word bits = 0;
  for (int j = (row_block == col_block) ? (int)threadIdx.x + 1 : 0; j < cols; ++j) {
    if (suppresses(x1, y1, x2, y2, area, col_boxes[j][0], col_boxes[j][1], col_boxes[j][2], col_boxes[j][3],
                   col_boxes[j][4], iou_threshold)) {
      bits |= 1ULL << j;
    }
  }
  mask[i * words + col_block] = bits;
}

// One block of blockDim.x >= kBoxesPerWord threads; dynamic shared memory of
// words * 8 bytes for removed[], the union of the masks of the boxes kept so
// far. Word by word, 64 boxes at a time:
//   a. threads 0..63 load the diagonal words mask[i][w] of the word's boxes;
//   b. thread 0 resolves the word on its own: box j is kept unless its bit is
//      set in removed[w], and a kept box's diagonal word removes the later
//      boxes of the same word it suppresses (all in shared memory);
//   c. all threads OR the rows of the word's kept boxes into removed[w2] for
//      every later word w2, one w2 per thread (consecutive threads read
//      consecutive words of a mask row: coalesced).
// Three barriers per 64 boxes, instead of two per box in a box-by-box walk.
__global__ void nms_reduce_kernel(const mask_word* __restrict__ mask, long long n, unsigned char* __restrict__ keep) {
  extern __shared__ mask_word removed[];
  __shared__ mask_word diagonal[kBoxesPerWord];
  __shared__ mask_word kept_in_word;

  const long long words = (n + kBoxesPerWord - 1) / kBoxesPerWord;
  for (long long w = threadIdx.x; w < words; w += blockDim.x) removed[w] = 0;

  for (long long w = 0; w < words; ++w) {
    const long long first = w * kBoxesPerWord;
    const int rows = (n - first < kBoxesPerWord) ? (int)(n - first) : kBoxesPerWord;
    if (threadIdx.x < rows) diagonal[threadIdx.x] = mask[(first + threadIdx.x) * words + w];
    __syncthreads();  // diagonal[] loaded; removed[w] final (and zeroed, on the first pass)

    if (threadIdx.x == 0) {
      mask_word suppressed = removed[w];
      mask_word kept = 0;
      for (int j = 0; j < rows; ++j) {
        if (!((suppressed >> j) & 1ULL)) {
          kept |= 1ULL << j;
          suppressed |= diagonal[j];  // holds bits above j only: later boxes of this word
        }
      }
      kept_in_word = kept;
    }
    __syncthreads();  // kept_in_word published

    const mask_word kept = kept_in_word;
    if (threadIdx.x < rows) keep[first + threadIdx.x] = (unsigned char)((kept >> threadIdx.x) & 1ULL);
    if (kept != 0) {
      // Word w2 is updated by one thread only in this pass; it was last
      // written in an earlier pass, before the barriers above.
      for (long long w2 = w + 1 + threadIdx.x; w2 < words; w2 += blockDim.x) {
        mask_word bits = removed[w2];
        for (int j0 = 0; j0 < rows; j0 += kLoadsInFlight) {
          mask_word part[kLoadsInFlight];
#pragma unroll
          for (int u = 0; u < kLoadsInFlight; ++u) {
            const int j = j0 + u;  // at most 63
            part[u] = (j < rows && ((kept >> j) & 1ULL)) ? mask[(first + j) * words + w2] : 0ULL;
          }
#pragma unroll
          for (int u = 0; u < kLoadsInFlight; ++u) bits |= part[u];
        }
        removed[w2] = bits;
      }
    }
    __syncthreads();  // removed[] updated; diagonal[] and kept_in_word free for the next word
  }
}
