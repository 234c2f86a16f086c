#!/usr/bin/env bash
# no_formatted_sql.sh -- every SQL statement patron runs is fixed text with
# bound parameters (core/sql_*.h, prepared by store.c), so no input can
# change a statement. This grep test reads core/*.c and core/*/*.c (comments
# removed, calls joined across lines) and fails on:
#   1. sqlite3_mprintf, sqlite3_vmprintf, sqlite3_snprintf, sqlite3_str_*printf:
#      SQLite's formatting, the usual way to paste values into SQL;
#   2. a call that runs SQL (sqlite3_exec, sqlite3_prepare*, and store.c's
#      exec() and pragma_int() helpers) whose SQL argument is neither a string
#      literal nor the statement table sql_text[...];
#   3. printf-family formatting (snprintf, sprintf, asprintf, pt_buf_printf,
#      ...) with a format that looks like SQL (a keyword such as SELECT,
#      INSERT, UPDATE, DELETE, PRAGMA, CREATE, DROP, WHERE, VALUES, ATTACH).
# The whitelist below names the uses that are fixed text, each with why.
# It prints everything it found, allowed or not.
. "$(dirname "$0")/lib.sh"

cd "$PATRON_ROOT" || exit 1

# file <TAB> exact call text (whitespace collapsed) <TAB> why it is safe
WHITELIST=$(cat <<'EOF'
core/store.c	sqlite3_exec(p->db, sql, NULL, NULL, &msg)	exec() helper: its callers pass literals, the embedded schema/*.sql migrations or the user_version pragma below
core/store.c	exec(p, m->data, m->name)	the migrations: schema/NNN_*.sql embedded in the binary at build time
core/store.c	exec(p, sql, m->name)	PRAGMA user_version = %d, an integer the loop counts
core/store.c	snprintf(sql, sizeof sql, "PRAGMA user_version = %d", n)	an integer the migration loop counts, not input
core/store.c	sqlite3_prepare_v2(p->db, sql, -1, &st, NULL)	pragma_int() helper: its callers pass "PRAGMA user_version" literals
EOF
)

SCANNER=$(cat <<'PERL'
use strict; use warnings;
my %white;
for my $l (split /\n/, $ENV{WHITELIST} // "") {
  my ($f, $call, $why) = split /\t/, $l;
  $white{"$f\t$call"} = $why;
}
my $bad = 0;
my $kw = qr/\b(?:SELECT|INSERT|UPDATE|DELETE|PRAGMA|CREATE|DROP|ALTER|ATTACH|DETACH|VALUES|WHERE|REPLACE|SAVEPOINT|VACUUM)\b/;
my $sink = qr/^(?:sqlite3_exec|sqlite3_prepare\w*|exec|pragma_int)$/;
for my $file (@ARGV) {
  open my $fh, "<", $file or die "$file: $!";
  local $/;
  my $src = <$fh>;
  close $fh;
  # comments out (their line breaks kept); strings and characters kept
  $src =~ s{(/\*.*?\*/)|(//[^\n]*)|("(?:\\.|[^"\\\n])*")|('(?:\\.|[^'\\\n])*')}
           { if (defined $1) { (my $t = $1) =~ s/[^\n]//g; $t }
             elsif (defined $2) { "" } else { defined $3 ? $3 : $4 } }gse;
  while ($src =~ /\b(sqlite3_\w*printf|sqlite3_str_\w+|sqlite3_exec|sqlite3_prepare\w*|exec|pragma_int|v?snprintf|v?sprintf|v?asprintf|pt_buf_printf)\s*\(/g) {
    my $fn = $1;
    my $start = $-[0];
    my $i = $+[0];
    next if ($fn eq "exec" || $fn eq "pragma_int") && $file !~ m{core/store\.c$};
    # the arguments, split at top-level commas (strings respected)
    my @args;
    my $cur = "";
    my $depth = 0;
    for (; $i < length $src; $i++) {
      my $c = substr($src, $i, 1);
      if ($c eq '"') {
        my $j = $i + 1;
        while ($j < length $src && substr($src, $j, 1) ne '"') {
          $j += substr($src, $j, 1) eq "\\" ? 2 : 1;
        }
        $cur .= substr($src, $i, $j - $i + 1);
        $i = $j;
        next;
      }
      if ($c eq "(" || $c eq "[") { $depth++ }
      elsif ($c eq ")" || $c eq "]") { last if $depth == 0; $depth-- }
      elsif ($c eq "," && $depth == 0) { push @args, $cur; $cur = ""; next }
      $cur .= $c;
    }
    push @args, $cur;
    my $after = substr($src, $i + 1, 40) // "";
    next if $after =~ /^\s*\{/;   # a definition, not a call
    for (@args) { s/\s+/ /g; s/^ | $//g; s/"\s*"//g }   # adjacent literals joined
    my $flat = "$fn(" . join(", ", @args) . ")";
    my $line = 1 + (substr($src, 0, $start) =~ tr/\n//);
    my $why;
    if ($fn =~ /^sqlite3_(?:\w*printf|str_)/) {
      $why = "SQLite string formatting";
    } elsif ($fn =~ $sink) {
      my $sql = $args[1] // "";
      next if $sql =~ /^"(?:\\.|[^"\\])*"$/ || $sql =~ /^sql_text\[[\w>.-]+\]$/;
      $why = "SQL that is neither a literal nor sql_text[...]";
    } else {
      my ($fmt) = grep { /^"/ } @args;
      next unless defined $fmt && $fmt =~ $kw;
      $why = "formatted text that looks like SQL";
    }
    if (exists $white{"$file\t$flat"}) {
      print "# allowed $file:$line: $flat -- ", $white{"$file\t$flat"}, "\n";
      next;
    }
    print "# FOUND $file:$line: $why: $flat\n";
    $bad++;
  }
}
exit($bad ? 1 : 0);
PERL
)
scan() { perl -e "$SCANNER" "$@"; }

files=$(ls core/*.c core/*/*.c 2>/dev/null)
export WHITELIST
out=$(scan $files 2>&1)
status=$?
printf '%s\n' "$out"
check_eq "no core/*.c file pastes values into SQL (sqlite3_exec, *printf, prepare)" "$status" 0

# the scanner itself must catch each pattern
tmp=$T_DIR/core
mkdir -p "$tmp/x"
cat >"$tmp/bad.c" <<'EOF'
static void f(sqlite3 *db, const char *name, char *buf) {
  char *q = sqlite3_mprintf("SELECT * FROM t WHERE a = '%q'", name);
  sqlite3_exec(db, q, 0, 0, 0);
  snprintf(buf, 99,
           "DELETE FROM orders WHERE order_id = '%s'", name);
  sqlite3_prepare_v2(db, buf, -1, 0, 0);
  /* sqlite3_exec(db, buf, 0, 0, 0); in a comment is fine */
  sqlite3_exec(db, "BEGIN" " IMMEDIATE", 0, 0, 0);
  pt_err(p, 1, "no SELECT here: %s", name);
  snprintf(buf, 99, "%s", "UPDATE is a word");
}
EOF
found=$(cd "$T_DIR" && scan core/bad.c 2>&1)
check_eq "the scanner finds mprintf, exec and prepare of built text, and SQL-looking formats" \
  "$(printf '%s\n' "$found" | grep -c '^# FOUND')" 4
check_match "... and ignores comments and literal SQL" "$found" '^# FOUND core/bad.c:4: formatted'

done_testing
