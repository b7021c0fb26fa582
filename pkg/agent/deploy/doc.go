// Package deploy puts an OS image on a node's disk from the agent ramdisk: it picks the
// disk by the profile's root device hints (refusing one that holds data unless the run is
// a reprovision), streams the image over HTTP with resume, decompresses it and hashes the
// raw bytes while writing them with O_DIRECT, verifies the sha256 before anything else,
// then moves the GPT backup header to the disk's end, grows the root partition and its
// ext4 filesystem, writes the node's own configuration onto the installed root and makes
// sure the disk has a boot path.
package deploy
