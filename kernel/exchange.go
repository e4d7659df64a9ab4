package kernel

import (
	"context"
	"errors"
	"log/slog"

	"github.com/gompi-kernel/gompi-kernel/jupyter"
)

// Exchange is one request as the handlers see it: the message that came in
// and the three ways to answer it. It plays the part of net/http's Request
// and ResponseWriter together. *jupyter.Request implements it over live
// sockets; a test implements it with a recorder, so that the request
// handling is tested in milliseconds without ZeroMQ, MPI or a frontend.
type Exchange interface {
	Msg() *jupyter.Message
	Channel() jupyter.Channel
	// Reply answers on the request's own channel (shell or control).
	Reply(t jupyter.MsgType, content any, metadata map[string]any) error
	// Publish sends on iopub with the request as parent.
	Publish(t jupyter.MsgType, content any, metadata map[string]any) error
	// Input asks the requesting frontend for a line (stdin channel).
	Input(ctx context.Context, prompt string, password bool) (string, error)
}

// errNoStdin is what a cell reading standard input gets when the frontend
// said allow_stdin=false (nbconvert, a test client): it could not answer.
var errNoStdin = errors.New("this frontend does not allow input (allow_stdin is false)")

// publisher is the Output of one execute_request: a running cell's output
// goes to the frontend as children of that request.
type publisher struct {
	x      Exchange
	log    *slog.Logger
	silent bool
	ctx    context.Context
}

// Input sends input_request to the frontend and waits for its reply.
func (p *publisher) Input(prompt string, password bool) (string, error) {
	s, err := p.x.Input(p.ctx, prompt, password)
	if errors.Is(err, jupyter.ErrStdinNotAllowed) {
		return "", errNoStdin
	}
	return s, err
}

func (p *publisher) Stream(name, text string, metadata map[string]any) {
	p.publish(jupyter.MsgStream, jupyter.Stream{Name: name, Text: text}, metadata)
}

func (p *publisher) Display(d Display) {
	switch {
	case d.Update:
		p.publish(jupyter.MsgUpdateDisplayData, jupyter.UpdateDisplayData{
			Data: d.Data, Metadata: d.Metadata, Transient: jupyter.Transient{DisplayID: d.ID},
		}, nil)
	case d.ID != "":
		p.publish(jupyter.MsgDisplayData, jupyter.DisplayData{
			Data: d.Data, Metadata: d.Metadata, Transient: &jupyter.Transient{DisplayID: d.ID},
		}, nil)
	default:
		p.publish(jupyter.MsgDisplayData, jupyter.DisplayData{Data: d.Data, Metadata: d.Metadata}, nil)
	}
}

func (p *publisher) Clear(wait bool) {
	p.publish(jupyter.MsgClearOutput, jupyter.ClearOutput{Wait: wait}, nil)
}

// publish sends one output message unless the request is silent. A failed
// publish is logged, not returned: the cell goes on, as it would with a
// frontend that stopped listening.
func (p *publisher) publish(t jupyter.MsgType, content any, metadata map[string]any) {
	if p.silent {
		return
	}
	if err := p.x.Publish(t, content, metadata); err != nil {
		p.log.Error("publishing output", "type", t, "err", err)
	}
}
