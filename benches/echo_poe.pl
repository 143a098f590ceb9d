#!/usr/bin/perl
# Perl POE's Server::TCP echo server, the user guide's DESCRIPTION example,
# for the echo benchmark (benches/echo/main.rs). Usage: echo_poe.pl PORT
use strict; use warnings;
use POE qw(Component::Server::TCP);
my $port = shift || 12345;
POE::Component::Server::TCP->new(
  Address => '127.0.0.1',
  Port => $port,
  ClientInput => sub { $_[HEAP]{client}->put($_[ARG0]) },
);
POE::Kernel->run();
