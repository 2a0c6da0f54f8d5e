#include "dns-probe.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <string.h>

#include "uv-private.h"

namespace {

struct DnsProbe {
  uv_getaddrinfo_t gai;
  uv_getnameinfo_t gni;
  int pending = 0;
  bool gaiPending = false;
  bool gniPending = false;
};
DnsProbe* probe = nullptr;
void* gaiDone = nullptr;
void* gniDone = nullptr;

void MaybeFree() {
  if (probe && probe->pending == 0) {
    delete probe;
    probe = nullptr;
  }
}
void OnGai(uv_getaddrinfo_t*, int, struct addrinfo* res) {
  uv_freeaddrinfo(res);
  probe->gaiPending = false;
  probe->pending--;
  MaybeFree();
}
void OnGni(uv_getnameinfo_t*, int, const char*, const char*) {
  probe->gniPending = false;
  probe->pending--;
  MaybeFree();
}

struct Count {
  unsigned n = 0;
};
void CountDns(void* done, const void* work, void* arg) {
  if (probe && (work == fg_uv_getaddrinfo_work(&probe->gai) || work == fg_uv_getnameinfo_work(&probe->gni))) return;
  if (done != nullptr && (done == gaiDone || done == gniDone)) static_cast<Count*>(arg)->n++;
}

struct Find {
  const void* work;
  bool found = false;
};
void FindWork(void*, const void* work, void* arg) {
  Find* f = static_cast<Find*>(arg);
  if (work == f->work) f->found = true;
}
bool Completed(uv_loop_t* loop, const void* work) {
  Find f{work};
  fg_uv_each_completed(loop, FindWork, &f);
  return f.found;
}

}  // namespace

bool fg_dns_learn(uv_loop_t* loop) {
  if (gaiDone || probe) return gaiDone != nullptr;
  probe = new DnsProbe();
  // Numeric lookups, which glibc answers without a resolver, /etc/hosts or NSS: a probe that asked
  // for a name would sit in a threadpool thread as long as the resolver takes (forever, for one that
  // never answers), and the quiesce would wait for it at this very fork.
  struct addrinfo hints;
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_INET;
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
  if (uv_getaddrinfo(loop, &probe->gai, OnGai, "127.0.0.1", nullptr, &hints) == 0) {
    gaiDone = fg_uv_getaddrinfo_done(&probe->gai);
    probe->gaiPending = true;
    probe->pending++;
  }
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (uv_getnameinfo(loop, &probe->gni, OnGni, reinterpret_cast<struct sockaddr*>(&sa), NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
    gniDone = fg_uv_getnameinfo_done(&probe->gni);
    probe->gniPending = true;
    probe->pending++;
  }
  MaybeFree();
  return gaiDone != nullptr;
}

unsigned fg_dns_completed(uv_loop_t* loop) {
  Count c;
  fg_uv_each_completed(loop, CountDns, &c);
  return c.n;
}

FgDnsLost fg_dns_probe_lost(uv_loop_t* loop) {
  FgDnsLost lost;
  lost.gai = probe && probe->gaiPending && !Completed(loop, fg_uv_getaddrinfo_work(&probe->gai));
  lost.gni = probe && probe->gniPending && !Completed(loop, fg_uv_getnameinfo_work(&probe->gni));
  return lost;
}

void fg_dns_probe_forget(const FgDnsLost& lost) {
  if (!probe) return;
  if (lost.gai) probe->gaiPending = false;
  if (lost.gni) probe->gniPending = false;
  probe->pending -= int(lost.count());
}

bool fg_dns_probe_pending() { return probe && (probe->gaiPending || probe->gniPending); }
