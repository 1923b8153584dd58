/* A standalone main for a fuzz target: runs LLVMFuzzerTestOneInput once on each file given (a
 * directory: each file in it), so the seed corpus and every crash once found replay in
 * `meson test` with any compiler, no libFuzzer needed. Exits non-zero if a path cannot be read. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

static int run_file(const char* path) {
  FILE* f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "cannot open %s\n", path);
    return -1;
  }
  size_t cap = 4096, n = 0;
  uint8_t* buf = malloc(cap);
  size_t got;
  while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
    n += got;
    if (n == cap) {
      uint8_t* grown = realloc(buf, cap *= 2);
      if (!grown) free(buf);
      buf = grown;
    }
  }
  fclose(f);
  if (!buf) return -1;
  /* an exactly sized copy, as libFuzzer passes it, so ASan sees reads past the end */
  uint8_t* exact = malloc(n ? n : 1);
  if (!exact) return free(buf), -1;
  memcpy(exact, buf, n);
  free(buf);
  LLVMFuzzerTestOneInput(exact, n);
  free(exact);
  return 0;
}

static int cmp(const void* a, const void* b) { return strcmp(*(char* const*)a, *(char* const*)b); }

int main(int argc, char** argv) {
  int failed = 0, runs = 0;
  for (int i = 1; i < argc; i++) {
    struct stat st;
    if (stat(argv[i], &st) != 0) {
      fprintf(stderr, "cannot stat %s\n", argv[i]);
      failed = 1;
      continue;
    }
    if (!S_ISDIR(st.st_mode)) {
      failed |= run_file(argv[i]) != 0;
      runs++;
      continue;
    }
    DIR* d = opendir(argv[i]);
    if (!d) {
      failed = 1;
      continue;
    }
    char** names = NULL;
    size_t n = 0;
    struct dirent* e;
    while ((e = readdir(d)) != NULL) {
      if (e->d_name[0] == '.') continue;
      char** grown = realloc(names, sizeof *names * (n + 1));
      if (!grown) break;
      names = grown;
      size_t len = strlen(argv[i]) + strlen(e->d_name) + 2;
      names[n] = malloc(len);
      snprintf(names[n], len, "%s/%s", argv[i], e->d_name);
      n++;
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp);
    for (size_t k = 0; k < n; k++) {
      failed |= run_file(names[k]) != 0;
      runs++;
      free(names[k]);
    }
    free(names);
  }
  printf("replayed %d inputs\n", runs);
  if (runs == 0) {
    fprintf(stderr, "no inputs\n");
    return 1;
  }
  return failed;
}
