// mesoguard-render-parity: the CUDA render kernel must compute exactly what the CPU path computes.
//
// Renders every pixel format x resize mode x geometry (whole-frame resize, detector letterboxes, rotated MesoNet
// face crops near and past the frame edges) of deterministic pseudo-random frames with RenderCpu and RenderCuda,
// requires max |cpu - gpu| = 0 everywhere, and times both (median ms per render, as the addon calls them).
// Then, per frame and resize mode, every 256x256 geometry again as ONE device batch (../batch_memory.h: the frame
// uploaded once through pinned staging, one launch for all items, as the addon's device batches render), compared
// item by item with the CPU renders: group "device-batch" (its gpu ms are per item, upload and download included).
// That group ran on an H100 (2026-11-27, README "GPU"): every item equal to its CPU render.
// The specs come from the project's own constructors (whole_frame_spec, MakeLetterbox, MakeFaceCrop).
//
//   mesoguard-render-parity [--json] [--reps N] [--device N]
//
// --json: one JSON object on stdout (the human report then goes to stderr).
// Exit status: 0 all agree, or no GPU here (reported); 1 some differ; 2 no GPU while MESOGUARD_EXPECT_GPU=1, or a
// CUDA error; 64 bad arguments.
#include <cuda_runtime.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "../batch_memory.h"
#include "../face_geometry.h"
#include "../preprocess.h"

#ifndef MG_PARITY_FMAD
#error "MG_PARITY_FMAD (1 = the CUDA kernel was compiled with FMA contraction) must be set by the build"
#endif

namespace mg {
namespace {

constexpr int kExitAgree = 0;
constexpr int kExitDiffer = 1;
constexpr int kExitNoGpu = 2;
constexpr int kExitUsage = 64;

const char* const kUsage =
    "Usage: mesoguard-render-parity [--json] [--reps N] [--device N]\n"
    "Renders every pixel format x resize mode x geometry on the CPU and the GPU and requires them to agree exactly.\n"
    "  --json      print one JSON summary on stdout (the report goes to stderr)\n"
    "  --reps N    timed renders per case and path (default 3)\n"
    "  --device N  CUDA device (default 0)\n"
    "Exit: 0 all agree or no GPU here; 1 some differ; 2 no GPU with MESOGUARD_EXPECT_GPU=1, or a CUDA error.\n";

const char* FormatName(PixelFormat f) {
  switch (f) {
    case PixelFormat::RGB: return "rgb";
    case PixelFormat::RGBA: return "rgba";
    case PixelFormat::I420: return "i420";
    case PixelFormat::NV12: return "nv12";
  }
  return "?";
}

const char* ModeName(ResizeMode m) {
  switch (m) {
    case ResizeMode::Nearest: return "nearest";
    case ResizeMode::Bilinear: return "bilinear";
    case ResizeMode::Area: return "area";
  }
  return "?";
}

// xorshift32: the same bytes on every machine and run.
struct Random {
  uint32_t state;
  uint32_t Next() {
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    return state;
  }
};

// One frame: noise in every byte (stride padding too), so a sample taken one pixel off shows. Rows are padded
// (strides wider than the row) to exercise the strides; planes lie one after another as the addon passes them.
struct Frame {
  PixelFormat format;
  int width, height;
  std::vector<uint8_t> bytes;
  SourceView view;
};

Frame MakeFrame(PixelFormat format, int width, int height) {
  Frame f{format, width, height, {}, {}};
  const int cw = (width + 1) / 2, ch = (height + 1) / 2;
  int stride0 = 0, stride1 = 0, stride2 = 0;
  size_t size0 = 0, size1 = 0, size2 = 0;
  switch (format) {
    case PixelFormat::RGB: stride0 = 3 * width + 8; size0 = (size_t)stride0 * height; break;
    case PixelFormat::RGBA: stride0 = 4 * width + 12; size0 = (size_t)stride0 * height; break;
    case PixelFormat::I420:
      stride0 = width + 5; stride1 = stride2 = cw + 3;
      size0 = (size_t)stride0 * height; size1 = size2 = (size_t)stride1 * ch;
      break;
    case PixelFormat::NV12:
      stride0 = width + 5; stride1 = 2 * cw + 6;
      size0 = (size_t)stride0 * height; size1 = (size_t)stride1 * ch;
      break;
  }
  f.bytes.resize(size0 + size1 + size2);
  Random random{0x9E3779B9u ^ (uint32_t)(width * 7919 + height * 104729 + (int)format * 15485863)};
  for (uint8_t& b : f.bytes) b = (uint8_t)(random.Next() >> 24);
  const uint8_t* base = f.bytes.data();
  f.view = SourceView{format, width, height, base, size1 ? base + size0 : nullptr,
                      size2 ? base + size0 + size1 : nullptr, stride0, stride1, stride2};
  return f;
}

// BlazeFace-order keypoints of a face centred on its nose at (cx, cy), eyes `eye` pixels apart, turned by
// `degrees` (clockwise in image coordinates) around the nose.
std::array<float, 2 * kKeypoints> FaceKeypoints(float cx, float cy, float eye, float degrees) {
  const float local[kKeypoints][2] = {
      {-0.5f * eye, -0.35f * eye},  // right eye
      {0.5f * eye, -0.35f * eye},   // left eye
      {0.f, 0.f},                   // nose tip
      {0.f, 0.45f * eye},           // mouth
      {-0.9f * eye, -0.2f * eye},   // right ear
      {0.9f * eye, -0.2f * eye},    // left ear
  };
  const double r = degrees * 3.14159265358979323846 / 180.0;
  const float c = (float)std::cos(r), s = (float)std::sin(r);
  std::array<float, 2 * kKeypoints> kp{};
  for (int i = 0; i < kKeypoints; ++i) {
    kp[2 * i] = cx + c * local[i][0] - s * local[i][1];
    kp[2 * i + 1] = cy + s * local[i][0] + c * local[i][1];
  }
  return kp;
}

struct Geometry {
  std::string name;
  RenderSpec spec;
};

// Every geometry the addon renders, built by the addon's own constructors: whole-frame MesoNet resize,
// BlazeFace letterboxes (whole frame, and a region search box reaching past the right edge), MesoNet face crops
// upright, rotated, sideways, upside down, upscaled (small face), larger than the frame, at an edge, in a
// corner, half outside and wholly outside the frame.
std::vector<Geometry> Geometries(int w, int h, ResizeMode mode) {
  std::vector<Geometry> g;
  g.push_back({"resize", whole_frame_spec(mode, 256, 256)});
  g.push_back({"letterbox", MakeLetterbox(Box{0.f, 0.f, (float)w, (float)h}, 256, mode, Layout::Interleaved, 2.f, -1.f).spec});
  g.push_back({"letterbox-region",
               MakeLetterbox(Box{0.62f * w, 0.11f * h, 1.13f * w, 0.57f * h}, 128, mode, Layout::Planar, 2.f, -1.f).spec});
  const float m = (float)std::min(w, h);
  const float cx = 0.47f * w, cy = 0.53f * h;
  const CropConfig crop{2.2f, 1.3f, mode};
  struct Face {
    const char* name;
    float x, y, eye, degrees;
  };
  const Face faces[] = {
      {"crop-upright", cx, cy, 0.12f * m, 0.f},
      {"crop-rotated", cx, cy, 0.12f * m, 17.f},
      {"crop-sideways", cx, cy, 0.09f * m, 90.f},
      {"crop-upside-down", cx, cy, 0.1f * m, 180.f},
      {"crop-small", cx, cy, 17.f, -23.f},
      {"crop-larger-than-frame", cx, cy, 0.5f * m, -35.f},
      {"crop-edge", 6.f, cy, 0.15f * m, 8.f},
      {"crop-corner", w - 3.f, h - 2.f, 0.11f * m, -12.f},
      {"crop-half-outside", -0.12f * m, 0.3f * h, 0.14f * m, 31.f},
      {"crop-outside", w + 0.9f * m, -0.8f * m, 0.1f * m, 5.f},
  };
  for (const Face& f : faces) g.push_back({f.name, MakeFaceCrop(FaceKeypoints(f.x, f.y, f.eye, f.degrees), crop, 256).spec});
  return g;
}

struct Options {
  bool json = false;
  int reps = 3;
  int device = 0;
};

bool ParseInt(const char* text, int lo, int hi, int* out) {
  char* end = nullptr;
  const long v = std::strtol(text, &end, 10);
  if (!text[0] || *end || v < lo || v > hi) return false;
  *out = (int)v;
  return true;
}

bool ParseArgs(int argc, char** argv, Options* o) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--json") {
      o->json = true;
    } else if (a == "--reps" && i + 1 < argc) {
      if (!ParseInt(argv[++i], 1, 1000, &o->reps)) return false;
    } else if (a == "--device" && i + 1 < argc) {
      if (!ParseInt(argv[++i], 0, 1023, &o->device)) return false;
    } else {
      return false;
    }
  }
  return true;
}

double Median(std::vector<double> v) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

template <typename F>
double TimeMs(F&& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// Exact comparison: any two values that are not the same number differ (NaN only matches NaN).
struct Diff {
  int64_t values = 0;  // output floats that differ
  double max_abs = 0;  // +inf where one side is NaN
};

Diff Compare(const std::vector<float>& a, const std::vector<float>& b) {
  Diff d;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] == b[i] || (std::isnan(a[i]) && std::isnan(b[i]))) continue;
    ++d.values;
    const double e = std::fabs((double)a[i] - (double)b[i]);
    d.max_abs = std::max(d.max_abs, std::isnan(e) ? INFINITY : e);
  }
  return d;
}

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if ((unsigned char)c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string JsonNumber(double v) {
  if (!std::isfinite(v)) return "null";
  std::ostringstream s;
  s.precision(9);
  s << v;
  return s.str();
}

std::string CudaVersion(int v) {
  return v > 0 ? std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10) : "none";
}

struct GpuIdentity {
  bool available = false;
  std::string reason;
  int device_count = 0;
  std::string name;
  std::string compute_capability;
  int driver_version = 0;   // cudaDriverGetVersion: 0 = no driver
  int runtime_version = 0;  // the cudart linked in (static)
};

GpuIdentity IdentifyGpu(int device) {
  GpuIdentity id;
  const CudaProbe probe = ProbeCuda();
  id.device_count = probe.device_count;
  id.reason = probe.reason;
  cudaDriverGetVersion(&id.driver_version);
  cudaRuntimeGetVersion(&id.runtime_version);
  if (id.driver_version == 0) id.reason += " (no NVIDIA driver: libcuda.so.1 not found or not loadable)";
  if (!probe.available) return id;
  if (device >= probe.device_count) {
    id.reason = "device " + std::to_string(device) + " asked for, " + std::to_string(probe.device_count) + " present";
    return id;
  }
  cudaDeviceProp prop;
  const cudaError_t status = cudaGetDeviceProperties(&prop, device);
  if (status != cudaSuccess) {
    id.reason = std::string("cudaGetDeviceProperties: ") + cudaGetErrorString(status);
    return id;
  }
  id.available = true;
  id.name = prop.name;
  id.compute_capability = std::to_string(prop.major) + "." + std::to_string(prop.minor);
  return id;
}

struct Group {
  int cases = 0;
  int differing = 0;
  double max_abs = 0;
  std::vector<double> cpu_ms, gpu_ms;
};

struct Difference {
  std::string name;
  Diff diff;
};

int Run(const Options& o) {
  std::FILE* report = o.json ? stderr : stdout;
  const bool expect_gpu = [] {
    const char* v = std::getenv("MESOGUARD_EXPECT_GPU");
    return v && std::string(v) == "1";
  }();
  const GpuIdentity gpu = IdentifyGpu(o.device);
  std::fprintf(report, "mesoguard-render-parity: CUDA kernel compiled %s\n",
               MG_PARITY_FMAD ? "WITH FMA contraction (nvcc default; expected to differ)" : "with -fmad=false");
  std::fprintf(report, "CUDA runtime %s (static), driver %s\n", CudaVersion(gpu.runtime_version).c_str(),
               CudaVersion(gpu.driver_version).c_str());
  if (gpu.available) {
    std::fprintf(report, "GPU %d: %s, compute capability %s (%d device(s))\n", o.device, gpu.name.c_str(),
                 gpu.compute_capability.c_str(), gpu.device_count);
  } else {
    std::fprintf(report, "no GPU: %s\n", gpu.reason.c_str());
  }

  // Without a GPU the CPU side still runs once per case: the cases are built and rendered, nothing is compared.
  const int reps = gpu.available ? o.reps : 1;
  const PixelFormat formats[] = {PixelFormat::RGB, PixelFormat::RGBA, PixelFormat::I420, PixelFormat::NV12};
  const ResizeMode modes[] = {ResizeMode::Nearest, ResizeMode::Bilinear, ResizeMode::Area};
  const int sizes[][2] = {{640, 480}, {1280, 720}, {1921, 1081}, {257, 193}};
  std::vector<std::string> group_order;
  std::map<std::string, Group> groups;
  std::vector<Difference> differences;
  std::vector<double> all_cpu, all_gpu;
  int cases = 0, differing = 0;
  double max_abs = 0;
  std::string cuda_error;
  std::unique_ptr<BatchMemory> batch_memory;
  try {
    if (gpu.available) batch_memory = MakeCudaBatchMemory(o.device, nullptr);
    if (gpu.available) {  // the first call creates the CUDA context: not a render to time
      const Frame warm = MakeFrame(PixelFormat::RGB, 64, 48);
      std::vector<float> out(3 * 16 * 16);
      RenderCuda(warm.view, whole_frame_spec(ResizeMode::Nearest, 16, 16), out.data(), o.device);
    }
    for (const auto& size : sizes) {
      for (const PixelFormat format : formats) {
        const Frame frame = MakeFrame(format, size[0], size[1]);
        // A compared case of group `g`: counted as differing, and listed, when any value differs.
        auto record = [&](Group& g, const Diff& d, const std::string& what) {
          if (!d.values) return;
          ++g.differing;
          ++differing;
          g.max_abs = std::max(g.max_abs, d.max_abs);
          max_abs = std::max(max_abs, d.max_abs);
          differences.push_back(
              {std::string(FormatName(format)) + " " + std::to_string(size[0]) + "x" + std::to_string(size[1]) + " " + what, d});
        };
        for (const ResizeMode mode : modes) {
          std::vector<BatchItem> batch_items;  // the 256x256 geometries, and their CPU renders
          std::vector<std::vector<float>> batch_cpu;
          for (const Geometry& geometry : Geometries(size[0], size[1], mode)) {
            const RenderSpec& spec = geometry.spec;
            const size_t n = 3 * (size_t)spec.out_w * spec.out_h;
            std::vector<float> cpu(n), gpu_out(n);
            std::vector<double> cpu_ms, gpu_ms;
            for (int r = 0; r < reps; ++r) {
              cpu_ms.push_back(TimeMs([&] { RenderCpu(frame.view, spec, cpu.data()); }));
              if (gpu.available) gpu_ms.push_back(TimeMs([&] { RenderCuda(frame.view, spec, gpu_out.data(), o.device); }));
            }
            const std::string key = geometry.name + " " + ModeName(mode);
            if (!groups.count(key)) group_order.push_back(key);
            Group& g = groups[key];
            ++g.cases;
            ++cases;
            g.cpu_ms.push_back(Median(cpu_ms));
            all_cpu.push_back(g.cpu_ms.back());
            if (spec.out_w == 256 && spec.out_h == 256) {
              batch_items.push_back(BatchItem{frame.view, spec});
              batch_cpu.push_back(cpu);
            }
            if (!gpu.available) continue;
            g.gpu_ms.push_back(Median(gpu_ms));
            all_gpu.push_back(g.gpu_ms.back());
            record(g, Compare(cpu, gpu_out), key);
          }
          if (!gpu.available) continue;
          // The same renders as one device batch: one upload of the frame, one launch.
          const size_t item_floats = 3 * 256 * 256;
          std::vector<float> batch_out(item_floats * batch_items.size());
          std::vector<double> batch_ms;
          for (int r = 0; r < reps; ++r) {
            batch_ms.push_back(TimeMs([&] {
              const float* device_input = batch_memory->Render(batch_items, item_floats);
              batch_memory->CopyToHost(device_input, batch_out.data(), batch_out.size());
            }));
          }
          const std::string key = std::string("device-batch ") + ModeName(mode);
          if (!groups.count(key)) group_order.push_back(key);
          Group& g = groups[key];
          Diff d;
          for (size_t i = 0; i < batch_items.size(); ++i) {
            const std::vector<float> item(batch_out.begin() + i * item_floats, batch_out.begin() + (i + 1) * item_floats);
            const Diff di = Compare(batch_cpu[i], item);
            d.values += di.values;
            d.max_abs = std::max(d.max_abs, di.max_abs);
          }
          ++g.cases;
          ++cases;
          g.gpu_ms.push_back(Median(batch_ms) / (double)batch_items.size());
          record(g, d, key + " of " + std::to_string(batch_items.size()));
        }
      }
    }
  } catch (const std::exception& e) {
    cuda_error = e.what();
  }

  std::fprintf(report, "\n%-24s %-8s %6s %7s %10s %9s %9s\n", "geometry", "mode", "cases", "differ", "max |d|",
               "cpu ms", gpu.available ? "gpu ms" : "");
  for (const std::string& key : group_order) {
    const Group& g = groups[key];
    const size_t split = key.rfind(' ');
    if (gpu.available) {
      std::fprintf(report, "%-24s %-8s %6d %7d %10.3g %9.3f %9.3f\n", key.substr(0, split).c_str(),
                   key.substr(split + 1).c_str(), g.cases, g.differing, g.max_abs, Median(g.cpu_ms), Median(g.gpu_ms));
    } else {
      std::fprintf(report, "%-24s %-8s %6d %7s %10s %9.3f\n", key.substr(0, split).c_str(), key.substr(split + 1).c_str(),
                   g.cases, "-", "-", Median(g.cpu_ms));
    }
  }
  const size_t shown = std::min<size_t>(differences.size(), 24);
  if (shown) std::fprintf(report, "\ndiffering cases (%zu of %zu):\n", shown, differences.size());
  for (size_t i = 0; i < shown; ++i) {
    std::fprintf(report, "  %-48s max |d| %.3g in %lld values\n", differences[i].name.c_str(), differences[i].diff.max_abs,
                 (long long)differences[i].diff.values);
  }

  int exit_code;
  std::string verdict;
  if (!cuda_error.empty()) {
    std::fprintf(report, "\nCUDA error: %s\n", cuda_error.c_str());
    exit_code = kExitNoGpu;
    verdict = "cuda-error";
  } else if (!gpu.available) {
    std::fprintf(report, "\nsummary: no GPU (%s): %d cases rendered on the CPU only (median %.3f ms), nothing compared\n",
                 gpu.reason.c_str(), cases, Median(all_cpu));
    exit_code = expect_gpu ? kExitNoGpu : kExitAgree;
    verdict = "no-gpu";
    if (expect_gpu) std::fprintf(report, "MESOGUARD_EXPECT_GPU=1 but no usable GPU: failing\n");
  } else {
    std::fprintf(report, "\nsummary: %d cases, %d differing, max |d| = %.3g; median per render: CPU %.3f ms, GPU %.3f ms "
                         "(upload + kernel + download)\n",
                 cases, differing, max_abs, Median(all_cpu), Median(all_gpu));
    exit_code = differing ? kExitDiffer : kExitAgree;
    verdict = differing ? "differ" : "agree";
  }
  std::fprintf(report, "%s\n", exit_code == 0 ? "PASS" : "FAIL");

  if (o.json) {
    std::ostringstream j;
    j << "{\"tool\":\"mesoguard-render-parity\",\"fmadContraction\":" << (MG_PARITY_FMAD ? "true" : "false")
      << ",\"gpu\":{\"available\":" << (gpu.available ? "true" : "false") << ",\"reason\":" << JsonString(gpu.reason)
      << ",\"device\":" << o.device << ",\"deviceCount\":" << gpu.device_count << ",\"name\":"
      << (gpu.available ? JsonString(gpu.name) : "null") << ",\"computeCapability\":"
      << (gpu.available ? JsonString(gpu.compute_capability) : "null")
      << ",\"driverVersion\":" << JsonString(CudaVersion(gpu.driver_version))
      << ",\"runtimeVersion\":" << JsonString(CudaVersion(gpu.runtime_version)) << "}"
      << ",\"expectGpu\":" << (expect_gpu ? "true" : "false") << ",\"compared\":" << (gpu.available ? "true" : "false")
      << ",\"cases\":" << cases << ",\"differing\":" << differing << ",\"maxAbsDiff\":" << JsonNumber(max_abs)
      << ",\"reps\":" << reps << ",\"cpuMsMedian\":" << JsonNumber(Median(all_cpu))
      << ",\"gpuMsMedian\":" << JsonNumber(Median(all_gpu)) << ",\"groups\":[";
    for (size_t i = 0; i < group_order.size(); ++i) {
      const Group& g = groups[group_order[i]];
      const size_t split = group_order[i].rfind(' ');
      j << (i ? "," : "") << "{\"geometry\":" << JsonString(group_order[i].substr(0, split))
        << ",\"mode\":" << JsonString(group_order[i].substr(split + 1)) << ",\"cases\":" << g.cases
        << ",\"differing\":" << g.differing << ",\"maxAbsDiff\":" << JsonNumber(g.max_abs)
        << ",\"cpuMs\":" << JsonNumber(Median(g.cpu_ms)) << ",\"gpuMs\":" << JsonNumber(Median(g.gpu_ms)) << "}";
    }
    j << "],\"differences\":[";
    for (size_t i = 0; i < differences.size(); ++i) {
      j << (i ? "," : "") << "{\"case\":" << JsonString(differences[i].name)
        << ",\"maxAbsDiff\":" << JsonNumber(differences[i].diff.max_abs) << ",\"values\":" << differences[i].diff.values
        << "}";
    }
    j << "],\"cudaError\":" << (cuda_error.empty() ? "null" : JsonString(cuda_error)) << ",\"verdict\":"
      << JsonString(verdict) << ",\"exitCode\":" << exit_code << "}";
    std::printf("%s\n", j.str().c_str());
  }
  return exit_code;
}

}  // namespace
}  // namespace mg

int main(int argc, char** argv) {
  mg::Options options;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) {
      std::fputs(mg::kUsage, stdout);
      return 0;
    }
  }
  if (!mg::ParseArgs(argc, argv, &options)) {
    std::fputs(mg::kUsage, stderr);
    return mg::kExitUsage;
  }
  return mg::Run(options);
}
