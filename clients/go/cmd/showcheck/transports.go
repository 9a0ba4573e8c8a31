package main

// The three ways a Go program reaches ShowService, behind the one interface the Twirp generator
// emits (pb.ShowService), so that one scenario runs over each. Errors are left exactly as each
// official client returns them: a gRPC status error, or a twirp.Error.

import (
	"context"
	"errors"
	"net/http"

	"github.com/twitchtv/twirp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/showrunner/showrunner/clients/go/showrunner/v1"
)

// transport is one door and the client generated for it.
type transport struct {
	name string
	show pb.ShowService
	// code reads the canonical error out of an error, through the client's own error type.
	code func(error) (refusal, string, bool)
}

// refusal is one canonical error as each client names it.
type refusal struct {
	grpc  codes.Code
	twirp twirp.ErrorCode
}

var (
	invalidArgument    = refusal{codes.InvalidArgument, twirp.InvalidArgument}
	unauthenticated    = refusal{codes.Unauthenticated, twirp.Unauthenticated}
	permissionDenied   = refusal{codes.PermissionDenied, twirp.PermissionDenied}
	notFound           = refusal{codes.NotFound, twirp.NotFound}
	alreadyExists      = refusal{codes.AlreadyExists, twirp.AlreadyExists}
	failedPrecondition = refusal{codes.FailedPrecondition, twirp.FailedPrecondition}
	unavailable        = refusal{codes.Unavailable, twirp.Unavailable}
)

func grpcTransport(conn *grpc.ClientConn) transport {
	return transport{
		name: "grpc",
		show: grpcShow{pb.NewShowServiceClient(conn)},
		code: func(err error) (refusal, string, bool) {
			st, ok := status.FromError(err)
			if !ok || st.Code() == codes.OK {
				return refusal{}, "", false
			}
			return refusal{grpc: st.Code()}, st.Message(), true
		},
	}
}

func twirpTransport(name string, show pb.ShowService) transport {
	return transport{
		name: name,
		show: show,
		code: func(err error) (refusal, string, bool) {
			var twerr twirp.Error
			if !errors.As(err, &twerr) {
				return refusal{}, "", false
			}
			return refusal{twirp: twerr.Code()}, twerr.Msg(), true
		},
	}
}

// matches says whether what a client read is the refusal expected, in that client's terms.
func (t transport) matches(got, want refusal) bool {
	if t.name == "grpc" {
		return got.grpc == want.grpc
	}
	return got.twirp == want.twirp
}

func (r refusal) String() string { return string(r.twirp) }

// as makes a context that carries the caller's token for every door: gRPC metadata and the
// Twirp client's HTTP headers (each client ignores the other's).
func as(ctx context.Context, token string) context.Context {
	if token == "" {
		return ctx
	}
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
	header := http.Header{}
	header.Set("Authorization", "Bearer "+token)
	withHeader, err := twirp.WithHTTPRequestHeaders(ctx, header)
	if err != nil {
		panic(err) // only for reserved headers such as Content-Type, never Authorization
	}
	return withHeader
}

// grpcShow presents the generated gRPC client as the generated service interface.
type grpcShow struct{ c pb.ShowServiceClient }

func (g grpcShow) JoinRoom(ctx context.Context, r *pb.JoinRoomRequest) (*pb.JoinRoomResponse, error) {
	return g.c.JoinRoom(ctx, r)
}
func (g grpcShow) ListRooms(ctx context.Context, r *pb.ListRoomsRequest) (*pb.ListRoomsResponse, error) {
	return g.c.ListRooms(ctx, r)
}
func (g grpcShow) GetRoom(ctx context.Context, r *pb.GetRoomRequest) (*pb.GetRoomResponse, error) {
	return g.c.GetRoom(ctx, r)
}
func (g grpcShow) GetMyPlace(ctx context.Context, r *pb.GetMyPlaceRequest) (*pb.GetMyPlaceResponse, error) {
	return g.c.GetMyPlace(ctx, r)
}
func (g grpcShow) RenewToken(ctx context.Context, r *pb.RenewTokenRequest) (*pb.RenewTokenResponse, error) {
	return g.c.RenewToken(ctx, r)
}
func (g grpcShow) DeleteRoom(ctx context.Context, r *pb.DeleteRoomRequest) (*pb.DeleteRoomResponse, error) {
	return g.c.DeleteRoom(ctx, r)
}
func (g grpcShow) GoLive(ctx context.Context, r *pb.GoLiveRequest) (*pb.GoLiveResponse, error) {
	return g.c.GoLive(ctx, r)
}
func (g grpcShow) EndShow(ctx context.Context, r *pb.EndShowRequest) (*pb.EndShowResponse, error) {
	return g.c.EndShow(ctx, r)
}
func (g grpcShow) ListParticipants(ctx context.Context, r *pb.ListParticipantsRequest) (*pb.ListParticipantsResponse, error) {
	return g.c.ListParticipants(ctx, r)
}
func (g grpcShow) RemoveParticipant(ctx context.Context, r *pb.RemoveParticipantRequest) (*pb.RemoveParticipantResponse, error) {
	return g.c.RemoveParticipant(ctx, r)
}
func (g grpcShow) InviteGuest(ctx context.Context, r *pb.InviteGuestRequest) (*pb.InviteGuestResponse, error) {
	return g.c.InviteGuest(ctx, r)
}
func (g grpcShow) DemoteGuest(ctx context.Context, r *pb.DemoteGuestRequest) (*pb.DemoteGuestResponse, error) {
	return g.c.DemoteGuest(ctx, r)
}
func (g grpcShow) RemoveGuest(ctx context.Context, r *pb.RemoveGuestRequest) (*pb.RemoveGuestResponse, error) {
	return g.c.RemoveGuest(ctx, r)
}
func (g grpcShow) SetHandRaised(ctx context.Context, r *pb.SetHandRaisedRequest) (*pb.SetHandRaisedResponse, error) {
	return g.c.SetHandRaised(ctx, r)
}
func (g grpcShow) AcceptInvitation(ctx context.Context, r *pb.AcceptInvitationRequest) (*pb.AcceptInvitationResponse, error) {
	return g.c.AcceptInvitation(ctx, r)
}
func (g grpcShow) DeclineInvitation(ctx context.Context, r *pb.DeclineInvitationRequest) (*pb.DeclineInvitationResponse, error) {
	return g.c.DeclineInvitation(ctx, r)
}
func (g grpcShow) StepDown(ctx context.Context, r *pb.StepDownRequest) (*pb.StepDownResponse, error) {
	return g.c.StepDown(ctx, r)
}
func (g grpcShow) ListRaisedHands(ctx context.Context, r *pb.ListRaisedHandsRequest) (*pb.ListRaisedHandsResponse, error) {
	return g.c.ListRaisedHands(ctx, r)
}
func (g grpcShow) UpdateRoomSettings(ctx context.Context, r *pb.UpdateRoomSettingsRequest) (*pb.UpdateRoomSettingsResponse, error) {
	return g.c.UpdateRoomSettings(ctx, r)
}
func (g grpcShow) StartRecording(ctx context.Context, r *pb.StartRecordingRequest) (*pb.StartRecordingResponse, error) {
	return g.c.StartRecording(ctx, r)
}
func (g grpcShow) StopRecording(ctx context.Context, r *pb.StopRecordingRequest) (*pb.StopRecordingResponse, error) {
	return g.c.StopRecording(ctx, r)
}
func (g grpcShow) ListRecordings(ctx context.Context, r *pb.ListRecordingsRequest) (*pb.ListRecordingsResponse, error) {
	return g.c.ListRecordings(ctx, r)
}
func (g grpcShow) StartStream(ctx context.Context, r *pb.StartStreamRequest) (*pb.StartStreamResponse, error) {
	return g.c.StartStream(ctx, r)
}
func (g grpcShow) UpdateStream(ctx context.Context, r *pb.UpdateStreamRequest) (*pb.UpdateStreamResponse, error) {
	return g.c.UpdateStream(ctx, r)
}
func (g grpcShow) StopStream(ctx context.Context, r *pb.StopStreamRequest) (*pb.StopStreamResponse, error) {
	return g.c.StopStream(ctx, r)
}
func (g grpcShow) ListStreams(ctx context.Context, r *pb.ListStreamsRequest) (*pb.ListStreamsResponse, error) {
	return g.c.ListStreams(ctx, r)
}
func (g grpcShow) AppointModerator(ctx context.Context, r *pb.AppointModeratorRequest) (*pb.AppointModeratorResponse, error) {
	return g.c.AppointModerator(ctx, r)
}
func (g grpcShow) DismissModerator(ctx context.Context, r *pb.DismissModeratorRequest) (*pb.DismissModeratorResponse, error) {
	return g.c.DismissModerator(ctx, r)
}
func (g grpcShow) UnbanParticipant(ctx context.Context, r *pb.UnbanParticipantRequest) (*pb.UnbanParticipantResponse, error) {
	return g.c.UnbanParticipant(ctx, r)
}
func (g grpcShow) ListBans(ctx context.Context, r *pb.ListBansRequest) (*pb.ListBansResponse, error) {
	return g.c.ListBans(ctx, r)
}
func (g grpcShow) ListShowEvents(ctx context.Context, r *pb.ListShowEventsRequest) (*pb.ListShowEventsResponse, error) {
	return g.c.ListShowEvents(ctx, r)
}
func (g grpcShow) MuteGuestTrack(ctx context.Context, r *pb.MuteGuestTrackRequest) (*pb.MuteGuestTrackResponse, error) {
	return g.c.MuteGuestTrack(ctx, r)
}
func (g grpcShow) AllowGuestSource(ctx context.Context, r *pb.AllowGuestSourceRequest) (*pb.AllowGuestSourceResponse, error) {
	return g.c.AllowGuestSource(ctx, r)
}

// The compiler, not a test, proves the adapter covers every RPC.
var _ pb.ShowService = grpcShow{}
