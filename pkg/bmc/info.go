package bmc

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/stmcginnis/gofish"
	"github.com/stmcginnis/gofish/common"
	rf "github.com/stmcginnis/gofish/redfish"
)

// redfishInfo reads a Redfish BMC's inventory from the standard resources every
// vendor publishes (ComputerSystem, Manager, Chassis) with gofish, the Redfish client
// bmclib is built on: bmclib's own inventory leaves out what it does not collect.
func redfishInfo(ctx context.Context, t Target, o Options, tr *trail) (Outcome, error) {
	tcfg, err := tlsConfig(t, o.Warn)
	if err != nil {
		return Outcome{}, err
	}
	hc, ct := httpClient(ctx, tcfg, &quirks{login: t.Login, tr: tr})
	// Not ConnectContext: gofish would end the logout with the deadline too. The
	// connections are closed at the deadline all the same (httpClient).
	gc, err := gofish.Connect(gofish.ClientConfig{
		Endpoint: "https://" + net.JoinHostPort(t.Host, strconv.Itoa(t.Port)),
		Username: t.Login.Username, Password: t.Login.Password, HTTPClient: hc,
	})
	if err != nil {
		return Outcome{}, err
	}
	defer func() {
		if ctx.Err() != nil {
			defer ct.grace(logoutGrace)()
		}
		gc.Logout()
	}()
	in := &Info{}
	var notes []string
	systems, err := gc.Service.Systems()
	if err != nil {
		return Outcome{}, fmt.Errorf("reading the ComputerSystem: %w", err)
	}
	if len(systems) > 0 {
		s := systems[0]
		in.Vendor, in.Model, in.Serial, in.BIOS = s.Manufacturer, s.Model, s.SerialNumber, s.BIOSVersion
		in.Power = normalizePower(string(s.PowerState))
		in.Health = health(s.Status)
	} else {
		notes = append(notes, "the BMC lists no ComputerSystem")
	}
	if ms, err := gc.Service.Managers(); err != nil {
		notes = append(notes, "reading the Manager failed: "+tidy(err.Error()))
	} else if m := pickManager(ms); m != nil {
		in.Firmware = m.FirmwareVersion
	}
	if cs, err := gc.Service.Chassis(); err != nil {
		notes = append(notes, "reading the Chassis failed: "+tidy(err.Error()))
	} else if len(cs) > 0 {
		c := cs[0]
		in.Vendor = orElse(in.Vendor, c.Manufacturer)
		in.Model = orElse(in.Model, c.Model)
		in.Serial = orElse(in.Serial, c.SerialNumber)
		in.Health = orElse(in.Health, health(c.Status))
	}
	for _, f := range []*string{&in.Vendor, &in.Model, &in.Serial, &in.BIOS, &in.Firmware, &in.Power, &in.Health} {
		*f = Sanitize(*f, 128)
	}
	return Outcome{Info: in, Note: strings.Join(notes, "; ")}, nil
}

// pickManager is the BMC among the managers (some list an enclosure manager too).
func pickManager(ms []*rf.Manager) *rf.Manager {
	for _, m := range ms {
		if m.ManagerType == rf.BMCManagerType {
			return m
		}
	}
	if len(ms) > 0 {
		return ms[0]
	}
	return nil
}

// health is the rollup where the BMC gives one (it includes the parts), else its own.
func health(s common.Status) string {
	if s.HealthRollup != "" {
		return string(s.HealthRollup)
	}
	return string(s.Health)
}

func orElse(a, b string) string {
	if strings.TrimSpace(a) != "" {
		return a
	}
	return b
}
