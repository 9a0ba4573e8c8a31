// Command showcheck calls every RPC of showrunner.v1.ShowService on a running Showrunner through
// the Go clients generated from protos/ — gRPC (protoc-gen-go-grpc) and Twirp JSON and protobuf
// (Twirp's own protoc-gen-twirp) — and checks answers and refusals through those clients' own
// types: gRPC status codes and twirp.Error codes.
//
// Each transport plays one show in its own room. The stage RPCs need viewers connected to
// LiveKit (a viewer must be present to be invited), and connecting is a WebRTC client's job, not
// this program's: it asks whoever runs it, one line on stdout
//
//	CONNECT <identity> <ws_url> <token>
//
// and waits for "CONNECTED <identity>" on stdin. tests/test_go_clients.py answers with real
// WebRTC participants. Admin tokens are minted here from LIVEKIT_API_KEY and LIVEKIT_API_SECRET
// with LiveKit's own Go library, as a Go backend would.
//
// With -no-egress it checks only the outage a LiveKit without an egress worker causes.
//
// Every check prints one line, "PASS <transport> <rpc> answers|refuses: <what>" or "FAIL ...".
// The program exits 1 if any check failed or if any RPC of the service (read from the generated
// descriptor) lacks a passing success and a passing refusal on any transport.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/livekit/protocol/auth"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	pb "github.com/showrunner/showrunner/clients/go/showrunner/v1"
)

func main() {
	grpcAddr := flag.String("grpc", "127.0.0.1:50051", "gRPC address of the service")
	httpBase := flag.String("http", "http://127.0.0.1:3001", "HTTP base URL of the service (Twirp)")
	prefix := flag.String("room-prefix", fmt.Sprintf("go-%d", time.Now().UnixNano()%1_000_000), "room names start with this")
	only := flag.String("transports", "grpc,twirp-json,twirp-protobuf", "which transports to check, comma-separated")
	noEgress := flag.Bool("no-egress", false, "the service's LiveKit has no egress worker: check only that recording is refused as unavailable")
	flag.Parse()

	key, secret := os.Getenv("LIVEKIT_API_KEY"), os.Getenv("LIVEKIT_API_SECRET")
	if key == "" || secret == "" {
		fmt.Fprintln(os.Stderr, "showcheck: LIVEKIT_API_KEY and LIVEKIT_API_SECRET are needed to mint admin tokens")
		os.Exit(2)
	}
	conn, err := grpc.NewClient(*grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fmt.Fprintln(os.Stderr, "showcheck:", err)
		os.Exit(2)
	}
	defer conn.Close()
	web := &http.Client{Timeout: 30 * time.Second}
	all := map[string]transport{
		"grpc":           grpcTransport(conn),
		"twirp-json":     twirpTransport("twirp-json", pb.NewShowServiceJSONClient(*httpBase, web)),
		"twirp-protobuf": twirpTransport("twirp-protobuf", pb.NewShowServiceProtobufClient(*httpBase, web)),
	}

	report := newReport()
	backend := tokens{key: key, secret: secret}
	stage := &harness{in: bufio.NewScanner(os.Stdin)}
	for _, name := range strings.Split(*only, ",") {
		t, ok := all[name]
		if !ok {
			fmt.Fprintf(os.Stderr, "showcheck: unknown transport %q\n", name)
			os.Exit(2)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		s := &show{t: t, r: report, tokens: backend, stage: stage, room: *prefix + "-" + name}
		if *noEgress {
			s.withoutEgress(ctx)
		} else {
			s.play(ctx)
		}
		cancel()
	}
	if *noEgress {
		fmt.Printf("SUMMARY failed=%d\n", report.failed)
		if report.failed > 0 {
			os.Exit(1)
		}
		return
	}
	if !report.complete(strings.Split(*only, ",")) {
		os.Exit(1)
	}
}

// tokens mints the server tokens a backend holds: roomAdmin for one room, roomList.
type tokens struct{ key, secret string }

func (k tokens) admin(room string) string {
	return k.mint(&auth.VideoGrant{RoomAdmin: true, Room: room})
}

func (k tokens) lister() string {
	return k.mint(&auth.VideoGrant{RoomList: true})
}

func (k tokens) mint(grant *auth.VideoGrant) string {
	jwt, err := auth.NewAccessToken(k.key, k.secret).SetIdentity("go-backend").
		SetVideoGrant(grant).SetValidFor(10 * time.Minute).ToJWT()
	if err != nil {
		panic(err)
	}
	return jwt
}

// harness asks the program's runner to connect real participants to LiveKit.
type harness struct{ in *bufio.Scanner }

func (h *harness) connect(identity, wsURL, token string) error {
	fmt.Printf("CONNECT %s %s %s\n", identity, wsURL, token)
	if !h.in.Scan() {
		return fmt.Errorf("no answer on stdin to CONNECT %s", identity)
	}
	if answer := strings.TrimSpace(h.in.Text()); answer != "CONNECTED "+identity {
		return fmt.Errorf("runner answered %q to CONNECT %s", answer, identity)
	}
	return nil
}

// report counts, per transport and RPC, the checks that passed, and prints each check.
type report struct {
	successes map[string]map[string]int
	refusals  map[string]map[string]int
	failed    int
}

func newReport() *report {
	return &report{successes: map[string]map[string]int{}, refusals: map[string]map[string]int{}}
}

func (r *report) pass(transport, rpc, what string, refused bool) {
	tally := r.successes
	if refused {
		tally = r.refusals
	}
	if tally[transport] == nil {
		tally[transport] = map[string]int{}
	}
	tally[transport][rpc]++
	kind := "answers"
	if refused {
		kind = "refuses"
	}
	fmt.Printf("PASS %s %s %s: %s\n", transport, rpc, kind, what)
}

func (r *report) fail(transport, rpc, what, why string) {
	r.failed++
	fmt.Printf("FAIL %s %s: %s: %s\n", transport, rpc, what, why)
}

// complete says whether every check passed and every RPC of the service, as the generated
// descriptor lists them, had a passing success and a passing refusal on every transport.
func (r *report) complete(transports []string) bool {
	methods := pb.File_showrunner_v1_show_service_proto.Services().ByName("ShowService").Methods()
	var missing []string
	for _, t := range transports {
		for i := 0; i < methods.Len(); i++ {
			rpc := string(methods.Get(i).Name())
			if r.successes[t][rpc] == 0 {
				missing = append(missing, t+" "+rpc+" (no success)")
			}
			if r.refusals[t][rpc] == 0 {
				missing = append(missing, t+" "+rpc+" (no refusal)")
			}
		}
	}
	sort.Strings(missing)
	for _, m := range missing {
		fmt.Printf("MISSING %s\n", m)
	}
	fmt.Printf("SUMMARY rpcs=%d transports=%d failed=%d missing=%d\n", methods.Len(), len(transports), r.failed, len(missing))
	return r.failed == 0 && len(missing) == 0
}
