package engine

import (
	"context"
	"fmt"
)

// tagBlob marks raw bytes on the command communicator that follow a
// command announcing them (a plugin after cmdLoad). A plugin is megabytes:
// inside the JSON of a command it would be base64-encoded and scanned by
// every worker's decoder, which cost up to a second per load on 4 ranks.
const tagBlob = 16

// sendBlob sends b, unencoded, to every worker, after the command that
// announced it; it returns once every worker has it.
func (f *Fabric) sendBlob(ctx context.Context, b []byte) error {
	if err := f.sendEach(ctx, f.cmd, b, f.workers(), tagBlob, true); err != nil {
		return fmt.Errorf("send %d bytes: %w", len(b), err)
	}
	return nil
}

// receiveBlob waits for the bytes rank 0 announced in the command just
// received. Workers only.
func (f *Fabric) receiveBlob(ctx context.Context) ([]byte, error) {
	in, err := probe(ctx, f.busy.Wait, f.cmd, 0, tagBlob)
	if err != nil {
		return nil, fmt.Errorf("wait for announced bytes: %w", err)
	}
	b, _, _, err := in.Recv()
	if err != nil {
		return nil, fmt.Errorf("receive announced bytes: %w", err)
	}
	return b, nil
}
