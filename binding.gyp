# Fallback native build (node-gyp). The primary build is CMakeLists.txt via
# cmake-js; both compile the same sources with the same flags.
# Per-ISA flag table: KEEP IDENTICAL to FR_FLAGS_* in CMakeLists.txt.
{
  "variables": {
    "fr_flags_avx2": ["-mavx2", "-mfma", "-mf16c"],
    "fr_flags_avx512": ["-mavx512f", "-mavx512bw", "-mavx512dq", "-mavx512vl", "-mavx2", "-mfma", "-mf16c"],
    "fr_flags_avx512vnni": ["-mavx512f", "-mavx512bw", "-mavx512dq", "-mavx512vl", "-mavx512vnni", "-mavx2", "-mfma", "-mf16c"],
    "fr_base_flags": ["-O3", "-fvisibility=hidden", "-fno-math-errno", "-std=c++17", "-Wno-unused-parameter", "-Wno-uninitialized", "-Wno-maybe-uninitialized"]
  },
  "target_defaults": {
    "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "native", "node_modules/usearch/include"],
    "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
    "cflags_cc!": ["-fno-exceptions", "-std=gnu++1y", "-std=gnu++14"],
    "cflags_cc": ["<@(fr_base_flags)", "-fexceptions"],
    "xcode_settings": {
      "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
      "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
      "OTHER_CPLUSPLUSFLAGS": ["<@(fr_base_flags)", "-fexceptions"]
    }
  },
  "targets": [
    {
      "target_name": "fusionrank",
      "sources": [
        "<!@(node scripts/gyp-sources.cjs core)",
        "<!@(node scripts/gyp-sources.cjs addon)",
        "<!@(node scripts/gyp-sources.cjs serial)"
      ],
      "conditions": [
        ["target_arch=='x64'", { "dependencies": ["fusionrank_avx2", "fusionrank_avx512", "fusionrank_avx512vnni"] }],
        ["target_arch=='arm64'", { "sources": ["<!@(node scripts/gyp-sources.cjs neon)"] }]
      ]
    }
  ],
  "conditions": [
    ["target_arch=='x64'", {
      "targets": [
        {
          "target_name": "fusionrank_avx2",
          "type": "static_library",
          "sources": ["<!@(node scripts/gyp-sources.cjs avx2)"],
          "cflags_cc": ["<@(fr_flags_avx2)"],
          "xcode_settings": { "OTHER_CPLUSPLUSFLAGS": ["<@(fr_base_flags)", "-fexceptions", "<@(fr_flags_avx2)"] }
        },
        {
          "target_name": "fusionrank_avx512",
          "type": "static_library",
          "sources": ["<!@(node scripts/gyp-sources.cjs avx512)"],
          "cflags_cc": ["<@(fr_flags_avx512)"],
          "xcode_settings": { "OTHER_CPLUSPLUSFLAGS": ["<@(fr_base_flags)", "-fexceptions", "<@(fr_flags_avx512)"] }
        },
        {
          "target_name": "fusionrank_avx512vnni",
          "type": "static_library",
          "sources": ["<!@(node scripts/gyp-sources.cjs avx512vnni)"],
          "cflags_cc": ["<@(fr_flags_avx512vnni)"],
          "xcode_settings": { "OTHER_CPLUSPLUSFLAGS": ["<@(fr_base_flags)", "-fexceptions", "<@(fr_flags_avx512vnni)"] }
        }
      ]
    }]
  ]
}
