{
  # `node-gyp rebuild` builds the shipped addon; `node-gyp rebuild --pg_forkguard_test=true` (what
  # `npm run build:native` runs) also builds the test build: the same sources with FG_TEST_BUILD and
  # native/napi/test-exports.cc, as build/Release/pg_forkguard_test.node-test. The extension keeps
  # node-gyp-build from ever picking it up; only the tests' preload loads it
  # (test/support/test-addon.cjs).
  # Windows has no fork(2): nothing is compiled there (package.json's install script skips it).
  "variables": {
    "pg_forkguard_test%": "false",
    "fg_sources": [
      "native/core/core.c",
      "native/core/dontfork.c",
      "native/core/heap-placement.c",
      "native/core/condvars.c",
      "native/core/sweep.c",
      "native/core/adopt.c",
      "native/core/malloc-settle.c",
      "native/uv/loop-hook.cc",
      "native/uv/async-resend.cc",
      "native/uv/child-watch.cc",
      "native/uv/threadpool.cc",
      "native/uv/threadpool-size.cc",
      "native/uv/heap-limit.cc",
      "native/uv/dns-probe.cc",
      "native/uv/fork.cc",
      "native/uv/listener.cc",
      "native/uv/swept-handles.cc",
      "native/napi/binding.cc"
    ]
  },
  "target_defaults": {
    "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
    "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
    "cflags": ["-Wall", "-Wextra", "-fno-exceptions"],
    "cflags_cc": ["-Wall", "-Wextra", "-fno-exceptions", "-std=c++17"],
    "xcode_settings": {
      "GCC_ENABLE_CPP_EXCEPTIONS": "NO",
      "WARNING_CFLAGS": ["-Wall", "-Wextra"],
      "MACOSX_DEPLOYMENT_TARGET": "11.0"
    },
    "conditions": [
      # Every symbol bound at load, in the parent: bound lazily, each fork() child would resolve its
      # first calls itself, faulting in the node binary's symbol tables (docs/how-it-works.md).
      ["OS=='linux'", { "ldflags": ["-Wl,-z,now"] }],
      ["OS=='linux' and '<!(echo $PG_FORKGUARD_SANITIZE)'=='address'", {
        "cflags": ["-fsanitize=address", "-fno-omit-frame-pointer", "-g"],
        "cflags_cc": ["-fsanitize=address", "-fno-omit-frame-pointer", "-g"],
        "ldflags": ["-fsanitize=address"]
      }]
    ]
  },
  "targets": [
    {
      "target_name": "pg_forkguard",
      "conditions": [
        ["OS=='win'", { "type": "none" }, { "sources": ["<@(fg_sources)"] }]
      ]
    }
  ],
  "conditions": [
    ["pg_forkguard_test=='true' and OS!='win'", {
      "targets": [
        {
          "target_name": "pg_forkguard_test",
          "target_conditions": [["_type=='loadable_module'", { "product_extension": "node-test" }]],
          "defines": ["FG_TEST_BUILD"],
          "sources": ["<@(fg_sources)", "native/napi/test-exports.cc"]
        }
      ]
    }]
  ]
}
