/* test_csv.c -- the RFC 4180 reader (core/csv.c): quoting, line ends, BOM,
** blank lines, physical line numbers, input longer than the read block,
** the caps and every syntax error. Each case renders what the reader
** returned as text ("1[a|b]3[c]!line 4: why") and compares it. */
#include "csv.h"
#include "t.h"

/* Renders every record of text as "LINE[f1|f2]" (CR and LF in fields as
** \r and \n), then "!" and the message if reading failed. Also checks that
** the end and errors are sticky. */
static char out[1 << 18];
static const char *parse_n(const char *text, size_t len) {
  FILE *f = tmpfile();
  if (!f) return "tmpfile failed";
  fwrite(text, 1, len, f);
  rewind(f);
  pt_csv *r = pt_csv_open(f);
  pt_csv_row row;
  int rc;
  size_t k = 0;
  out[0] = 0;
  while ((rc = pt_csv_next(r, &row)) == PT_CSV_ROW && k < sizeof out - 256) {
    k += (size_t)snprintf(out + k, sizeof out - k, "%lld[", (long long)row.line);
    for (size_t i = 0; i < row.n; i++) {
      if (i) out[k++] = '|';
      if (strlen(row.fields[i]) != row.lens[i]) k += (size_t)sprintf(out + k, "<len?>");
      for (size_t j = 0; j < row.lens[i] && k < sizeof out - 256; j++) {
        char c = row.fields[i][j];
        if (c == '\n') k += (size_t)sprintf(out + k, "\\n");
        else if (c == '\r') k += (size_t)sprintf(out + k, "\\r");
        else out[k++] = c;
      }
    }
    out[k++] = ']';
    out[k] = 0;
  }
  if (rc == PT_CSV_ERROR) {
    snprintf(out + k, sizeof out - k, "!%s", pt_csv_errmsg(r));
    if (pt_csv_next(r, &row) != PT_CSV_ERROR) strcat(out, " (error not sticky)");
  } else if (rc == PT_CSV_END && pt_csv_next(r, &row) != PT_CSV_END) {
    strcat(out, " (end not sticky)");
  }
  pt_csv_close(r);
  fclose(f);
  return out;
}
#define P(s) parse_n(s, sizeof(s) - 1)

TEST(plain_records) {
  CHECK_STR(P("a,b,c\n1,2,3\n"), "1[a|b|c]2[1|2|3]");
  CHECK_STR(P("a,b\n1,2"), "1[a|b]2[1|2]"); /* no trailing newline */
  CHECK_STR(P("x"), "1[x]");
  CHECK_STR(P(""), "");
  CHECK_STR(P(",,\n"), "1[||]");
  CHECK_STR(P("a,\n,b\n"), "1[a|]2[|b]");
  CHECK_STR(P(" a , b \n"), "1[ a | b ]"); /* spaces are data */
}

TEST(line_ends) {
  CHECK_STR(P("a,b\r\n1,2\r\n"), "1[a|b]2[1|2]");
  CHECK_STR(P("a\rb\r"), "1[a]2[b]");
  CHECK_STR(P("a\r\nb\nc\rd"), "1[a]2[b]3[c]4[d]");
}

TEST(quoted_fields) {
  CHECK_STR(P("\"a,b\",\"c\"\"d\"\n"), "1[a,b|c\"d]");
  CHECK_STR(P("\"\"\n"), "1[]");                 /* one empty field, not blank */
  CHECK_STR(P("\"\",\"\"\n"), "1[|]");
  CHECK_STR(P("\"\"\"\"\n"), "1[\"]");           /* a lone quote */
  CHECK_STR(P("\"x\""), "1[x]");                 /* closing quote at EOF */
  CHECK_STR(P("a,\"b\"\r\nc"), "1[a|b]2[c]");
  CHECK_STR(P("\"caf\xC3\xA9\",\"\xE2\x82\xAC\"\n"), "1[caf\xC3\xA9|\xE2\x82\xAC]");
}

TEST(line_breaks_inside_quotes_count_lines) {
  CHECK_STR(P("x,\"l1\nl2\"\ny,z\n"), "1[x|l1\\nl2]3[y|z]");
  CHECK_STR(P("\"a\r\nb\"\r\nc\r\n"), "1[a\\r\\nb]3[c]");  /* CRLF kept */
  CHECK_STR(P("\"a\rb\"\nc\n"), "1[a\\rb]3[c]");
  CHECK_STR(P("\"\n\n\n\"\nz\n"), "1[\\n\\n\\n]5[z]");
}

TEST(bom_and_blank_lines) {
  CHECK_STR(P("\xEF\xBB\xBFsku,name\nA,B\n"), "1[sku|name]2[A|B]");
  CHECK_STR(P("\xEF\xBB\xBF"), "");
  CHECK_STR(P("\xEF\xBB"), "1[\xEF\xBB]");        /* half a BOM is data */
  CHECK_STR(P("a\n\xEF\xBB\xBF\n"), "1[a]2[\xEF\xBB\xBF]"); /* only at the start */
  CHECK_STR(P("\n\na\n\n\r\nb\n\n"), "3[a]6[b]");
  CHECK_STR(P("\r\n\r\n"), "");
}

TEST(syntax_errors) {
  CHECK_STR(P("a,b\nc,\"d\n\ne\n"), "1[a|b]!line 2: unterminated quoted field");
  CHECK_STR(P("h\n1\n2\n3\n4\n5\n\"x\n"), "1[h]2[1]3[2]4[3]5[4]6[5]!line 7: unterminated quoted field");
  CHECK_STR(P("a,b\"c\n"),
            "!line 1: stray quote in unquoted field 2 (quote the whole field "
            "and double the quotes inside)");
  CHECK_STR(P("ok\n\"a\"b\n"),
            "1[ok]!line 2: unexpected character after the closing quote of field 1");
  CHECK_STR(P("x, \"y\"\n"),
            "!line 1: stray quote in unquoted field 2 (quote the whole field "
            "and double the quotes inside)");
  CHECK_STR(P("a\nb\0c\n"), "1[a]!line 2: NUL byte in field 1");
  CHECK_STR(P("\"a\0\"\n"), "!line 1: NUL byte in field 1");
}

TEST(error_parts) {
  FILE *f = tmpfile();
  fputs("a\n\"b\n", f);
  rewind(f);
  pt_csv *r = pt_csv_open(f);
  pt_csv_row row;
  CHECK_STR(pt_csv_errmsg(r), "");
  CHECK_EQ_I64(pt_csv_errkind_of(r), PT_CSV_ENONE);
  CHECK_EQ_I64(pt_csv_next(r, &row), PT_CSV_ROW);
  CHECK_EQ_I64(pt_csv_next(r, &row), PT_CSV_ERROR);
  CHECK_EQ_I64(pt_csv_errline(r), 2);
  CHECK_STR(pt_csv_errwhy(r), "unterminated quoted field");
  CHECK_STR(pt_csv_errmsg(r), "line 2: unterminated quoted field");
  CHECK_EQ_I64(pt_csv_errkind_of(r), PT_CSV_ESYNTAX);
  pt_csv_close(r);
  fclose(f);
}

/* a field of n bytes of 'x', optionally quoted, between a header and a row */
static const char *big_field(size_t n, int quote) {
  static char buf[PT_CSV_MAX_FIELD + 64];
  size_t k = (size_t)sprintf(buf, "h\n%s", quote ? "\"" : "");
  memset(buf + k, 'x', n);
  k += n;
  k += (size_t)sprintf(buf + k, "%s\nz\n", quote ? "\"" : "");
  const char *r = parse_n(buf, k);
  /* keep the rendering short: the line numbers and the error */
  static char shortr[256];
  char *e = strchr(r, '!');
  snprintf(shortr, sizeof shortr, "%.4s %s", r, e ? e : strstr(r, "3[") ? "3[z]" : "?");
  return shortr;
}

TEST(field_length_cap) {
  CHECK_STR(big_field(PT_CSV_MAX_FIELD, 0), "1[h] 3[z]");
  CHECK_STR(big_field(PT_CSV_MAX_FIELD, 1), "1[h] 3[z]");
  CHECK_STR(big_field(PT_CSV_MAX_FIELD + 1, 0), "1[h] !line 2: field 1 is longer than 65536 bytes");
  CHECK_STR(big_field(PT_CSV_MAX_FIELD + 1, 1), "1[h] !line 2: field 1 is longer than 65536 bytes");
}

TEST(field_count_cap) {
  char buf[512];
  size_t k = 0;
  for (int i = 0; i < PT_CSV_MAX_FIELDS; i++) k += (size_t)sprintf(buf + k, i ? ",%d" : "%d", i);
  k += (size_t)sprintf(buf + k, "\n");
  const char *r = parse_n(buf, k);
  CHECK(r[0] == '1' && !strchr(r, '!'));
  CHECK_HAS(r, "|63]");
  k--; /* drop the newline, add a 65th field */
  k += (size_t)sprintf(buf + k, ",64\n");
  CHECK_STR(parse_n(buf, k), "!line 1: more than 64 fields");
}

/* input much longer than the 64 KiB read block: quotes, CRLF and fields
** cross block boundaries; every record and line number must survive */
TEST(long_input_crosses_blocks) {
  FILE *f = tmpfile();
  int n = 30000;
  for (int i = 0; i < n; i++) fprintf(f, "%d,\"q%d\r\nv\"\"\",tail\r\n", i, i);
  long size = ftell(f);
  rewind(f);
  pt_csv *r = pt_csv_open(f);
  pt_csv_row row;
  int got = 0, bad = 0;
  while (pt_csv_next(r, &row) == PT_CSV_ROW) {
    char want[64];
    snprintf(want, sizeof want, "q%d\r\nv\"", got);
    if (row.n != 3 || atoi(row.fields[0]) != got || strcmp(row.fields[1], want) ||
        strcmp(row.fields[2], "tail") || row.line != 2 * got + 1)
      bad++;
    got++;
  }
  CHECK_EQ_I64(got, n);
  CHECK_EQ_I64(bad, 0);
  CHECK_STR(pt_csv_errmsg(r), "");
  CHECK_EQ_I64(pt_csv_offset(r), size);
  pt_csv_close(r);
  fclose(f);
}

TEST(offsets_for_progress) {
  FILE *f = tmpfile();
  fputs("\xEF\xBB\xBF" "ab\r\ncd\n\nef", f);
  rewind(f);
  pt_csv *r = pt_csv_open(f);
  pt_csv_row row;
  CHECK_EQ_I64(pt_csv_offset(r), 0);
  CHECK_EQ_I64(pt_csv_next(r, &row), PT_CSV_ROW);
  CHECK_EQ_I64(pt_csv_offset(r), 7);
  CHECK_EQ_I64(pt_csv_next(r, &row), PT_CSV_ROW);
  CHECK_EQ_I64(pt_csv_offset(r), 10);
  CHECK_EQ_I64(pt_csv_next(r, &row), PT_CSV_ROW);
  CHECK_EQ_I64(row.line, 4);
  CHECK_EQ_I64(pt_csv_offset(r), 13);
  CHECK_EQ_I64(pt_csv_next(r, &row), PT_CSV_END);
  pt_csv_close(r);
  fclose(f);
}

TEST(read_error_is_reported) {
  FILE *f = fopen("t_csv_wo.txt", "w"); /* write-only: reading fails */
  CHECK(f != NULL);
  if (!f) return;
  pt_csv *r = pt_csv_open(f);
  pt_csv_row row;
  CHECK_EQ_I64(pt_csv_next(r, &row), PT_CSV_ERROR);
  CHECK_EQ_I64(pt_csv_errkind_of(r), PT_CSV_EIO);
  CHECK_HAS(pt_csv_errmsg(r), "line 1: read error: ");
  pt_csv_close(r);
  fclose(f);
  remove("t_csv_wo.txt");
}

int main(void) {
  RUN(plain_records);
  RUN(line_ends);
  RUN(quoted_fields);
  RUN(line_breaks_inside_quotes_count_lines);
  RUN(bom_and_blank_lines);
  RUN(syntax_errors);
  RUN(error_parts);
  RUN(field_length_cap);
  RUN(field_count_cap);
  RUN(long_input_crosses_blocks);
  RUN(offsets_for_progress);
  RUN(read_error_is_reported);
  pt_csv_close(NULL);
  return t_done();
}
