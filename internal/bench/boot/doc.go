// Package boot holds `make bench-boot`: a TFTP boot storm (500 clients fetching a
// 1 MiB file at once) against racklift, tftpd-hpa and dnsmasq, and the DHCP answered
// rate measured with perfdhcp against racklift and dnsmasq, all inside network
// namespaces the benchmark creates (loopback and a veth pair; nothing else).
package boot
