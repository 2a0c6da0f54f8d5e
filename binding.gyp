{
  "targets": [
    {
      "target_name": "pg_forkguard",
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "conditions": [
        ["OS=='win'", {
          "sources": ["native/unsupported.cc"]
        }, {
          "sources": ["native/core.c", "native/dontfork.c", "native/condvars.c", "native/binding.cc"],
          "cflags": ["-Wall", "-Wextra", "-fno-exceptions"],
          "cflags_cc": ["-Wall", "-Wextra", "-fno-exceptions", "-std=c++17"],
          "xcode_settings": {
            "GCC_ENABLE_CPP_EXCEPTIONS": "NO",
            "WARNING_CFLAGS": ["-Wall", "-Wextra"],
            "MACOSX_DEPLOYMENT_TARGET": "11.0"
          }
        }],
        ["OS=='linux' and '<!(echo $PG_FORKGUARD_SANITIZE)'=='address'", {
          "cflags": ["-fsanitize=address", "-fno-omit-frame-pointer", "-g"],
          "cflags_cc": ["-fsanitize=address", "-fno-omit-frame-pointer", "-g"],
          "ldflags": ["-fsanitize=address"]
        }]
      ]
    }
  ]
}
