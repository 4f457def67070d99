// nms on the CPU: the greedy sweep in score order, each candidate tested only
// against the kept boxes near it. Kept boxes are indexed in a uniform grid
// over the candidates' extent. IoU > t >= 0 needs an overlap of positive area,
// so a suppressor always shares a grid cell with its candidate: the grid
// changes how many pairs are tested, never the answer.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "ops/nms.h"

namespace kernel_arena {
namespace {

// A box spanning more cells than this goes to a list every candidate scans,
// so one huge box cannot make each insertion cost O(cells).
constexpr int64_t kMaxCellsPerBox = 64;
// Cells per candidate at most: the grid's memory stays O(n).
constexpr int64_t kCellsPerBox = 4;

struct Grid {
  double min_x, min_y, inv_cell;
  int64_t nx, ny;

  int64_t cell_x(double x) const { return std::clamp<int64_t>(int64_t((x - min_x) * inv_cell), 0, nx - 1); }
  int64_t cell_y(double y) const { return std::clamp<int64_t>(int64_t((y - min_y) * inv_cell), 0, ny - 1); }
};

// Cells about the mean box side, so a typical box covers ~4 cells; larger if
// that would make more than kCellsPerBox * n cells (sparse outliers).
template <typename T>
Grid make_grid(const T* boxes, const int64_t* order, int64_t n) {
  double min_x = std::numeric_limits<double>::infinity(), min_y = min_x, max_x = -min_x, max_y = -min_x;
  double side_sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    const T* b = boxes + 4 * order[i];
    min_x = std::min<double>(min_x, b[0]);
    min_y = std::min<double>(min_y, b[1]);
    max_x = std::max<double>(max_x, b[2]);
    max_y = std::max<double>(max_y, b[3]);
    side_sum += double(b[2] - b[0]) + double(b[3] - b[1]);
  }
  const double width = std::max(max_x - min_x, 1e-12), height = std::max(max_y - min_y, 1e-12);
  double cell = std::max(side_sum / (2.0 * n), 1e-12);
  const double max_cells = double(kCellsPerBox * n + 16);
  if ((width / cell + 1) * (height / cell + 1) > max_cells) cell = std::sqrt(width * height / max_cells) + 1e-12;
  Grid grid{min_x, min_y, 1.0 / cell, 0, 0};
  grid.nx = std::min<int64_t>(int64_t(width / cell) + 1, int64_t(max_cells));
  grid.ny = std::min<int64_t>(int64_t(height / cell) + 1, int64_t(max_cells));
  return grid;
}

}  // namespace

template <typename T>
int64_t nms_cpu_launch(const T* boxes, const int64_t* order, int64_t n, T iou_threshold, int64_t* kept) {
  if (n == 0) return 0;
  const Grid grid = make_grid(boxes, order, n);
  std::vector<std::vector<int32_t>> cells(grid.nx * grid.ny);  // kept slots per cell
  std::vector<int32_t> wide;                                    // kept slots spanning many cells
  // Kept boxes packed by slot, one array per coordinate, for the inner loop.
  std::vector<T> kx1(n), ky1(n), kx2(n), ky2(n), karea(n);
  int64_t n_kept = 0;

  for (int64_t i = 0; i < n; ++i) {
    const int64_t index = order[i];
    const T x1 = boxes[4 * index], y1 = boxes[4 * index + 1], x2 = boxes[4 * index + 2], y2 = boxes[4 * index + 3];
    const T area = box_area(x1, y1, x2, y2);
    const int64_t cx0 = grid.cell_x(x1), cx1 = grid.cell_x(x2), cy0 = grid.cell_y(y1), cy1 = grid.cell_y(y2);
    auto suppressed_by = [&](int32_t k) {
      return suppresses(x1, y1, x2, y2, area, kx1[k], ky1[k], kx2[k], ky2[k], karea[k], iou_threshold);
    };

    bool suppressed = std::any_of(wide.begin(), wide.end(), suppressed_by);
    for (int64_t cy = cy0; cy <= cy1 && !suppressed; ++cy)
      for (int64_t cx = cx0; cx <= cx1 && !suppressed; ++cx) {
        const auto& cell = cells[cy * grid.nx + cx];
        suppressed = std::any_of(cell.begin(), cell.end(), suppressed_by);
      }
    if (suppressed) continue;

    const int32_t slot = int32_t(n_kept++);
    kx1[slot] = x1, ky1[slot] = y1, kx2[slot] = x2, ky2[slot] = y2, karea[slot] = area;
    kept[slot] = index;
    if (!(area > T(0))) continue;  // a zero-area box overlaps nothing: it can suppress nothing
    if ((cx1 - cx0 + 1) * (cy1 - cy0 + 1) > kMaxCellsPerBox) {
      wide.push_back(slot);
    } else {
      for (int64_t cy = cy0; cy <= cy1; ++cy)
        for (int64_t cx = cx0; cx <= cx1; ++cx) cells[cy * grid.nx + cx].push_back(slot);
    }
  }
  return n_kept;
}

template int64_t nms_cpu_launch<float>(const float*, const int64_t*, int64_t, float, int64_t*);
template int64_t nms_cpu_launch<double>(const double*, const int64_t*, int64_t, double, int64_t*);

}  // namespace kernel_arena
