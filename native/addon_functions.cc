#include "addon_functions.h"

#include <algorithm>
#include <array>
#include <memory>
#include <optional>
#include <vector>

#include "face_geometry.h"
#include "frame_decode.h"
#include "idle_trimmer.h"
#include "js_convert.h"
#include "ort_runtime.h"
#include "preprocess.h"

#ifndef MG_BUILD_SYSTEM
#define MG_BUILD_SYSTEM "unknown"
#endif

namespace mg {

namespace {

// preprocess(frame, {width, height, resize, device, maxFramePixels, crop: {factor, margin}, keypoints?, region?,
// occlude?: {box, value}}) -> Promise<Float32Array>: the planar RGB [0,1] tensor the pipeline would feed a model: the
// whole frame stretched, a face crop from keypoints, or a letterboxed region; with `occlude`, of an rgb frame with
// that cell painted first, as scoreOccluded() paints it. Every field but keypoints and region is required:
// src/scoring/scorerOptions.ts (resolvePreprocessOptions) owns the defaults and the crop's range.
class PreprocessWorker : public Napi::AsyncWorker {
 public:
  PreprocessWorker(Napi::Env env, FrameInput frame, RenderSpec spec, std::string device, std::optional<OcclusionCell> occlude)
      : Napi::AsyncWorker(env, "mesoguard.preprocess"),
        deferred_(Napi::Promise::Deferred::New(env)),
        frame_(std::move(frame)),
        spec_(spec),
        device_(std::move(device)),
        occlude_(occlude) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    try {
      if (occlude_) OccludeRgb(frame_, *occlude_);
      DecodedFrame decoded = DecodeFrame(frame_);
      // Not zero-filled: every render writes each value.
      out_size_ = 3 * (size_t)spec_.out_w * spec_.out_h;
      out_.reset(new float[out_size_]);
      if (device_ == "cuda") {
        RenderCuda(decoded.view, spec_, out_.get(), 0);
      } else if (device_ == "cpu-reference") {
        RenderCpuReference(decoded.view, spec_, out_.get());
      } else if (device_ == "cpu-detector") {
        RenderDetectorCpu(decoded.view, spec_, out_.get());
      } else {
        RenderCpu(decoded.view, spec_, out_.get());
      }
    } catch (const FrameError& e) {
      code_ = e.code;
      SetError(e.what());
    } catch (const std::exception& e) {
      code_ = "ERR_PREPROCESS";
      SetError(e.what());
    }
  }

  // Copied into a V8 array rather than handed over as an external one: an external buffer is freed only when the
  // array is collected, so each call rendered into fresh pages (92 minor faults a call against 10).
  void OnOK() override {
    Napi::Float32Array array = Napi::Float32Array::New(Env(), out_size_);
    std::copy(out_.get(), out_.get() + out_size_, array.Data());
    deferred_.Resolve(array);
  }

  void OnError(const Napi::Error& e) override { deferred_.Reject(MakeError(Env(), code_, e.Message()).Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  FrameInput frame_;
  RenderSpec spec_;
  std::string device_;  // cpu, cuda, cpu-reference (the per-pixel definition's plain loop: tests, bench) or cpu-detector
  std::optional<OcclusionCell> occlude_;
  std::unique_ptr<float[]> out_;
  size_t out_size_ = 0;
  std::string code_;
};

Napi::Value Preprocess(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
  try {
    if (info.Length() < 2 || !info[1].IsObject()) {
      throw FrameError("ERR_INVALID_ARG", "preprocess(frame, options): options are required (resolvePreprocessOptions)");
    }
    Napi::Object o = info[1].As<Napi::Object>();
    FrameInput frame = ParseFrame(info[0], RequireInt(o, "maxFramePixels"));
    const int width = RequireInt(o, "width");
    const int height = RequireInt(o, "height");
    if (width < 1 || height < 1 || width > 4096 || height > 4096) {
      throw FrameError("ERR_INVALID_ARG", "output width and height must be 1..4096");
    }
    const ResizeMode mode = ParseResizeMode(RequireString(o, "resize"));
    const std::string device = RequireString(o, "device");
    if (device != "cpu" && device != "cuda" && device != "cpu-reference" && device != "cpu-detector") {
      throw FrameError("ERR_INVALID_ARG", "device must be cpu, cuda, cpu-reference or cpu-detector");
    }
    Napi::Object crop_options = RequireObject(o, "crop");
    const CropConfig crop{(float)RequireNumber(crop_options, "factor"), (float)RequireNumber(crop_options, "margin"), mode};
    RenderSpec spec = whole_frame_spec(mode, width, height);
    if (!o.Get("keypoints").IsUndefined()) {
      const std::array<float, 2 * kKeypoints> keypoints = ParseKeypoints(o.Get("keypoints"));
      if (width != height) throw FrameError("ERR_INVALID_ARG", "face crops are square: width must equal height");
      spec = MakeFaceCrop(keypoints, crop, width).spec;
    } else if (!o.Get("region").IsUndefined()) {
      const Box region = ParseBox(o.Get("region"), "region");
      if (width != height) throw FrameError("ERR_INVALID_ARG", "letterboxes are square: width must equal height");
      spec = MakeLetterbox(region, width, mode, Layout::Planar, 1.f, 0.f).spec;
    }
    std::optional<OcclusionCell> occlude;
    if (!o.Get("occlude").IsUndefined()) {
      Napi::Object cell = RequireObject(o, "occlude");
      occlude = ParseOcclusionCell(cell.Get("box"), cell.Get("value"));
      CheckOcclusionCell(frame, *occlude);
    }
    auto* worker = new PreprocessWorker(env, std::move(frame), spec, device, occlude);
    Napi::Promise promise = worker->Promise();
    worker->Queue();
    return promise;
  } catch (const FrameError& e) {
    deferred.Reject(MakeError(env, e.code, e.what()).Value());
    return deferred.Promise();
  }
}

// encodeJpeg(rgb, width, height, quality) -> Promise<Buffer>: for saved crops and thumbnails (each caller picks its quality).
class EncodeJpegWorker : public Napi::AsyncWorker {
 public:
  EncodeJpegWorker(Napi::Env env, std::vector<uint8_t> rgb, int width, int height, int quality)
      : Napi::AsyncWorker(env, "mesoguard.encodeJpeg"),
        deferred_(Napi::Promise::Deferred::New(env)),
        rgb_(std::move(rgb)),
        width_(width),
        height_(height),
        quality_(quality) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    try {
      jpeg_ = EncodeJpegRgb(rgb_.data(), width_, height_, quality_);
    } catch (const std::exception& e) {
      SetError(e.what());
    }
  }
  void OnOK() override { deferred_.Resolve(Napi::Buffer<uint8_t>::Copy(Env(), jpeg_.data(), jpeg_.size())); }
  void OnError(const Napi::Error& e) override { deferred_.Reject(MakeError(Env(), "ERR_JPEG_ENCODE", e.Message()).Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::vector<uint8_t> rgb_;
  int width_, height_, quality_;
  std::vector<uint8_t> jpeg_;
};

Napi::Value EncodeJpeg(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
  if (info.Length() < 4 || !info[0].IsTypedArray() || !info[1].IsNumber() || !info[2].IsNumber() || !info[3].IsNumber()) {
    deferred.Reject(MakeError(env, "ERR_INVALID_ARG", "encodeJpeg(rgb: Uint8Array, width, height, quality)").Value());
    return deferred.Promise();
  }
  Napi::TypedArray array = info[0].As<Napi::TypedArray>();
  const int width = info[1].As<Napi::Number>().Int32Value();
  const int height = info[2].As<Napi::Number>().Int32Value();
  const int quality = info[3].As<Napi::Number>().Int32Value();
  if (width < 1 || height < 1 || width > kMaxFrameSide || height > kMaxFrameSide || quality < 1 || quality > 100 ||
      array.ByteLength() < (size_t)width * height * 3) {
    deferred.Reject(MakeError(env, "ERR_INVALID_ARG", "encodeJpeg: bad size or quality, or too few bytes for width x height RGB").Value());
    return deferred.Promise();
  }
  const uint8_t* bytes = static_cast<const uint8_t*>(array.ArrayBuffer().Data()) + array.ByteOffset();
  auto* worker = new EncodeJpegWorker(env, std::vector<uint8_t>(bytes, bytes + (size_t)width * height * 3), width, height, quality);
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

Napi::Value RuntimeInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("ortVersion", OrtVersionString());
  o.Set("ortApiVersion", OrtHeaderApiVersion());
  o.Set("ortLibraryPath", OrtLibraryPath());
  Napi::Array providers = Napi::Array::New(env);
  std::vector<std::string> names = OrtAvailableProviders();
  for (size_t i = 0; i < names.size(); ++i) providers.Set(i, names[i]);
  o.Set("availableProviders", providers);
  const CudaProbe cuda = ProbeCuda();
  Napi::Object c = Napi::Object::New(env);
  c.Set("built", cuda.built);
  c.Set("available", cuda.available);
  c.Set("deviceCount", cuda.device_count);
  c.Set("reason", cuda.reason);
  o.Set("cuda", c);
  o.Set("buildSystem", MG_BUILD_SYSTEM);
  return o;
}

// Cheap enough for a metrics scrape: mallinfo2 walks the free lists of the few arenas (CapMallocArenas).
Napi::Value NativeHeap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const NativeHeapUsage usage = ReadNativeHeap();
  if (!usage.available) return env.Null();
  Napi::Object o = Napi::Object::New(env);
  o.Set("inUseBytes", (double)usage.in_use_bytes);
  o.Set("freeBytes", (double)usage.free_bytes);
  return o;
}

}  // namespace

void RegisterAddonFunctions(Napi::Env env, Napi::Object exports) {
  exports.Set("preprocess", Napi::Function::New<Preprocess>(env, "preprocess"));
  exports.Set("encodeJpeg", Napi::Function::New<EncodeJpeg>(env, "encodeJpeg"));
  exports.Set("runtimeInfo", Napi::Function::New<RuntimeInfo>(env, "runtimeInfo"));
  exports.Set("nativeHeap", Napi::Function::New<NativeHeap>(env, "nativeHeap"));
}

}  // namespace mg
