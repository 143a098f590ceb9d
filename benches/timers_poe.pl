#!/usr/bin/perl
# Perl POE's side of benches/timers.rs: the same shapes, fewer iterations
# (POE is slow), printed as "shape ns_per_operation" lines for the table.
use strict; use warnings;
use POE;
use Time::HiRes qw(time);

sub rearm {
  my ($pending, $m) = @_;
  my $ns;
  POE::Session->create(inline_states => {
    _start => sub {
      my $k = $_[KERNEL];
      $k->delay_set(filler => 7200 + $_) for 1 .. $pending;
      my $id = $k->delay_set(timeout => 600);
      my $t = time;
      for (1 .. $m) { $k->alarm_remove($id); $id = $k->delay_set(timeout => 600) }
      $ns = (time - $t) / $m * 1e9;
      $k->alarm_remove_all;
    },
  });
  POE::Kernel->run;
  return $ns;
}

sub insert {
  my ($pending, $m) = @_;
  my $ns;
  POE::Session->create(inline_states => {
    _start => sub {
      my $k = $_[KERNEL];
      $k->delay_set(filler => 7200 + $_) for 1 .. $pending;
      my $t = time;
      for (1 .. $m) { my $id = $k->delay_set(one => 1800); $k->alarm_remove($id) }
      $ns = (time - $t) / $m * 1e9;
      $k->alarm_remove_all;
    },
  });
  POE::Kernel->run;
  return $ns;
}

sub fire {
  my ($n) = @_;
  my ($t, $fired) = (time, 0);
  POE::Session->create(inline_states => {
    _start => sub { $_[KERNEL]->delay_add(tick => rand(0.5)) for 1 .. $n },
    tick => sub { $fired++ },
  });
  POE::Kernel->run;
  return (time - $t) / $n * 1e9;
}

printf "rearm/%d %.0f\n", $_, rearm($_, 20_000) for 0, 2, 2000;
printf "insert_1M %.0f\n", insert(100_000, 20_000);   # 100k pending: 1M takes minutes to set up
printf "fire_1M %.0f\n", fire(100_000);                # 100k timers within 0.5 s of real time
