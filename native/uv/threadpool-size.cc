#include "threadpool-size.h"

#include <dirent.h>
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

namespace {

pid_t knownFor = 0;  // the process whose pool size is known (0: none)
FgPoolSize known;

// libuv's nthreads, once found; nullptr when there is no symbol table to find it in.
const unsigned* nthreads = nullptr;
bool nthreadsLooked = false;

unsigned CountNamedWorkers() {
  DIR* d = opendir("/proc/self/task");
  if (!d) return 0;
  unsigned n = 0;
  while (struct dirent* e = readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    char path[300];  // d_name is at most 255 bytes
    snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    char comm[32] = {};
    ssize_t r = read(fd, comm, sizeof(comm) - 1);
    close(fd);
    if (r > 0 && strncmp(comm, "libuv-worker\n", 13) == 0) n++;
  }
  closedir(d);
  return n;
}

struct Object {
  const void* symbol;
  const char* path = nullptr;  // "" for the executable
  ElfW(Addr) bias = 0;
  bool found = false;
};

int FindObject(struct dl_phdr_info* info, size_t, void* arg) {
  Object* o = static_cast<Object*>(arg);
  auto at = reinterpret_cast<ElfW(Addr)>(o->symbol);
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD) continue;
    ElfW(Addr) start = info->dlpi_addr + ph.p_vaddr;
    if (at >= start && at < start + ph.p_memsz) {
      o->path = info->dlpi_name;
      o->bias = info->dlpi_addr;
      o->found = true;
      return 1;
    }
  }
  return 0;
}

bool EndsWith(const char* s, const char* tail) {
  size_t a = strlen(s), b = strlen(tail);
  return a >= b && strcmp(s + a - b, tail) == 0 && (a == b || s[a - b - 1] == '/');
}

// The address of the local `nthreads` that follows the STT_FILE symbol of threadpool.c in the symbol
// table of the object holding uv_queue_work. Read once; every check failing means "not known".
const unsigned* FindNthreads() {
  Object o{reinterpret_cast<const void*>(&uv_queue_work)};
  dl_iterate_phdr(FindObject, &o);
  if (!o.found) return nullptr;
  const char* path = (o.path && o.path[0]) ? o.path : "/proc/self/exe";
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return nullptr;
  struct stat st;
  const unsigned* out = nullptr;
  if (fstat(fd, &st) == 0 && size_t(st.st_size) > sizeof(ElfW(Ehdr))) {
    size_t size = size_t(st.st_size);
    void* map = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map != MAP_FAILED) {
      const char* base = static_cast<const char*>(map);
      auto eh = reinterpret_cast<const ElfW(Ehdr)*>(base);
      bool sane = memcmp(eh->e_ident, ELFMAG, SELFMAG) == 0 && eh->e_shentsize == sizeof(ElfW(Shdr)) &&
                  eh->e_shoff > 0 && eh->e_shoff + size_t(eh->e_shnum) * sizeof(ElfW(Shdr)) <= size;
      auto sh = reinterpret_cast<const ElfW(Shdr)*>(base + (sane ? eh->e_shoff : 0));
      for (unsigned i = 0; sane && i < eh->e_shnum && !out; i++) {
        if (sh[i].sh_type != SHT_SYMTAB || sh[i].sh_link >= eh->e_shnum) continue;
        const ElfW(Shdr)& strs = sh[sh[i].sh_link];
        if (sh[i].sh_offset + sh[i].sh_size > size || strs.sh_offset + strs.sh_size > size) break;
        auto syms = reinterpret_cast<const ElfW(Sym)*>(base + sh[i].sh_offset);
        const char* names = base + strs.sh_offset;
        size_t count = sh[i].sh_size / sizeof(ElfW(Sym));
        bool inThreadpool = false;
        for (size_t k = 0; k < count; k++) {
          const ElfW(Sym)& s = syms[k];
          if (s.st_name >= strs.sh_size) continue;
          const char* name = names + s.st_name;
          unsigned type = ELF64_ST_TYPE(s.st_info);
          if (type == STT_FILE) {
            inThreadpool = EndsWith(name, "threadpool.c");
            continue;
          }
          if (inThreadpool && type == STT_OBJECT && ELF64_ST_BIND(s.st_info) == STB_LOCAL &&
              s.st_size == sizeof(unsigned) && strcmp(name, "nthreads") == 0) {
            out = reinterpret_cast<const unsigned*>(o.bias + s.st_value);
            break;
          }
        }
      }
      munmap(map, size);
    }
  }
  close(fd);
  return out;
}

}  // namespace

unsigned fg_threadpool_size_from_env() {
  // libuv's rule (threadpool.c, init_threads).
  const char* v = getenv("UV_THREADPOOL_SIZE");
  long n = v ? strtol(v, nullptr, 10) : 4;
  if (n <= 0) n = 1;
  if (n > 1024) n = 1024;
  return unsigned(n);
}

FgPoolSize fg_threadpool_size_before() {
  FgPoolSize out;
  if (knownFor == getpid()) return known;
  out.n = CountNamedWorkers();
  out.source = FG_POOL_SIZE_NAMES;
  return out;
}

FgPoolSize fg_threadpool_size_after(FgPoolSize before) {
  FgPoolSize out = before;
  if (out.n == 0) {
    if (!nthreadsLooked) {
      nthreads = FindNthreads();
      nthreadsLooked = true;
    }
    // Set by libuv on the loop thread (us) when the pool started, before any of its threads ran.
    unsigned v = nthreads ? *nthreads : 0;
    if (v >= 1 && v <= 1024) out = {v, FG_POOL_SIZE_SYMBOL};
  }
  // Neither is known: the variable, as libuv read it if the pool started just now.
  if (out.n == 0) out = {fg_threadpool_size_from_env(), FG_POOL_SIZE_ENV};
  knownFor = getpid();
  known = out;
  return out;
}

int fg_threadpool_threads_alive() {
  unsigned named = CountNamedWorkers();
  if (named > 0) return int(named);
  // libuv 1.50 and later name every thread of the pool as it starts: none named, none started.
  if (uv_version() >= ((1u << 16) | (50u << 8))) return 0;
  if (!nthreadsLooked) {
    nthreads = FindNthreads();
    nthreadsLooked = true;
  }
  if (!nthreads) return -1;
  unsigned v = *nthreads;
  return v <= 1024 ? int(v) : -1;
}
