# Secondary build (node-gyp): the same sources as CMakeLists.txt, CPU only (the CUDA stub instead of the .cu file).
# CI builds both so they cannot drift.
{
  "variables": {
    "ort_node_dir": "<!(node -p \"require('path').dirname(require.resolve('onnxruntime-node/package.json'))\")",
    "ort_headers_pkg": "<!(node -p \"require('path').dirname(require.resolve('com.github.asus4.onnxruntime/package.json'))\")"
  },
  "targets": [
    {
      "target_name": "mesoguard",
      "sources": [
        "native/addon.cc",
        "native/addon_functions.cc",
        "native/batch_memory_host.cc",
        "native/device_batch.cc",
        "native/face_geometry.cc",
        "native/frame_decode.cc",
        "native/frame_pipeline.cc",
        "native/idle_trimmer.cc",
        "native/inference_batcher.cc",
        "native/js_convert.cc",
        "native/model_session.cc",
        "native/ort_runtime.cc",
        "native/preprocess.cc",
        "native/scorer.cc",
        "native/scorer_options.cc",
        "native/video_decoder.cc",
        "native/video_decoder_js.cc",
        "native/video_file.cc",
        "native/video_file_js.cc",
        "native/work_pool.cc",
        "native/cuda/preprocess_cuda_stub.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<(ort_headers_pkg)/Plugins/iOS~/onnxruntime.xcframework/ios-arm64/onnxruntime.framework/Headers",
        "<!@(pkg-config --cflags-only-I libavformat libavcodec libswscale libavutil 2>/dev/null | sed 's/-I//g')"
      ],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "MG_BUILD_SYSTEM=\"node-gyp\"", "MG_WITH_CUDA=0"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-fvisibility=hidden", "-O2", "-ffp-contract=off"],
      "libraries": [
        "<(ort_node_dir)/bin/napi-v6/linux/x64/libonnxruntime.so.1",
        "-lturbojpeg",
        "-ljpeg",
        "-lpng16",
        "-lavformat",
        "-lavcodec",
        "-lswscale",
        "-lavutil"
      ],
      "ldflags": [
        "-Wl,-rpath,'$$ORIGIN/../../node_modules/onnxruntime-node/bin/napi-v6/linux/x64'",
        "-Wl,-rpath,'$$ORIGIN/../../../onnxruntime-node/bin/napi-v6/linux/x64'",
        "-Wl,-rpath,<(ort_node_dir)/bin/napi-v6/linux/x64"
      ]
    }
  ]
}
