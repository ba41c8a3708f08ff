{
  "targets": [
    {
      "target_name": "switchyard_splice",
      "sources": ["native/splice.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "conditions": [["OS!='linux'", {"type": "none", "sources!": ["native/splice.c"]}]]
    }
  ]
}
