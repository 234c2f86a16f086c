/* main.c -- STUB */
#include <stdio.h>
#include "patron.h"
int main(void) { puts(PATRON_VERSION); return 0; }
