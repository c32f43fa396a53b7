/* SPDX-License-Identifier: Apache-2.0
 *
 * A static-pie program for the loader's end-to-end test: glibc relocates
 * it from AT_PHDR and its load bias, so a wrong auxv or bias crashes it
 * before main. Prints its argument and where main was loaded. */
#include <stdint.h>
#include <stdio.h>
#include <sys/auxv.h>

int main(int argc, char** argv) {
  printf("pie %s %s\n", argc > 1 ? argv[1] : "-",
         getauxval(AT_ENTRY) > 0x555555554000ull ? "biased" : "unbiased");
  return 0;
}
