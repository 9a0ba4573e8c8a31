package main

// One show, played through one transport: every RPC answered, and refused for the reasons the
// contract lists, in the order a real show meets them.

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/livekit/protocol/livekit"

	pb "github.com/showrunner/showrunner/clients/go/showrunner/v1"
)

const host = "host"

type show struct {
	t      transport
	r      *report
	tokens tokens
	stage  *harness
	room   string
	// What JoinRoom, the invitations and the demotions handed out, by identity.
	hostToken string
	viewer    map[string]string
}

// ok records a success: no error, and nothing wrong in the answer by verify's reckoning.
func ok[T any](s *show, rpc, what string, resp T, err error, verify func(T) string) {
	if err != nil {
		s.r.fail(s.t.name, rpc, what, "unexpected error: "+err.Error())
		return
	}
	if verify != nil {
		if problem := verify(resp); problem != "" {
			s.r.fail(s.t.name, rpc, what, problem)
			return
		}
	}
	s.r.pass(s.t.name, rpc, what, false)
}

// refused records a refusal: the client's own error type carries the wanted code, and the
// message contains text (when given).
func (s *show) refused(rpc, what string, err error, want refusal, text string) {
	if err == nil {
		s.r.fail(s.t.name, rpc, what, "succeeded, wanted "+want.String())
		return
	}
	got, msg, read := s.t.code(err)
	if !read {
		s.r.fail(s.t.name, rpc, what, fmt.Sprintf("not the client's error type (%T): %v", err, err))
		return
	}
	if !s.t.matches(got, want) {
		s.r.fail(s.t.name, rpc, what, fmt.Sprintf("got %s (%q), wanted %s", s.named(got), msg, s.named(want)))
		return
	}
	if !strings.Contains(msg, text) {
		s.r.fail(s.t.name, rpc, what, fmt.Sprintf("message %q does not say %q", msg, text))
		return
	}
	s.r.pass(s.t.name, rpc, what+" ("+s.named(got)+")", true)
}

func (s *show) named(r refusal) string {
	if s.t.name == "grpc" {
		return r.grpc.String()
	}
	return string(r.twirp)
}

func expect(cond bool, problem string, args ...any) string {
	if cond {
		return ""
	}
	return fmt.Sprintf(problem, args...)
}

func (s *show) play(ctx context.Context) {
	s.viewer = map[string]string{}
	s.join(ctx)
	s.rooms(ctx)
	s.participants(ctx)
	s.hands(ctx)
	s.stageRPCs(ctx)
	s.moderation(ctx)
	s.recordings(ctx)
	s.streams(ctx)
	s.endShow(ctx)
}

func (s *show) join(ctx context.Context) {
	svc, admin := s.t.show, s.tokens.admin(s.room)
	_, err := svc.JoinRoom(ctx, &pb.JoinRoomRequest{ParticipantName: "ann", Role: pb.Role_ROLE_VIEWER})
	s.refused("JoinRoom", "no room name", err, invalidArgument, "required")
	_, err = svc.JoinRoom(ctx, &pb.JoinRoomRequest{RoomName: s.room, ParticipantName: host, Role: pb.Role_ROLE_HOST})
	s.refused("JoinRoom", "hosting without a token", err, unauthenticated, "")
	_, err = svc.JoinRoom(as(ctx, "not-a-token"), &pb.JoinRoomRequest{RoomName: s.room, ParticipantName: host, Role: pb.Role_ROLE_HOST})
	s.refused("JoinRoom", "hosting with a malformed token", err, unauthenticated, "")

	joined, err := svc.JoinRoom(as(ctx, admin), &pb.JoinRoomRequest{RoomName: s.room, ParticipantName: host, DisplayName: "The Host", Role: pb.Role_ROLE_HOST})
	ok(s, "JoinRoom", "the backend makes the host", joined, err, func(r *pb.JoinRoomResponse) string {
		return expect(r.Token != "" && r.WsUrl != "" && r.Role == pb.Role_ROLE_HOST && r.Identity == host && r.RoomName == s.room,
			"unexpected answer %v", r)
	})
	if err == nil {
		s.hostToken = joined.Token
	}
	for _, who := range []string{"ann", "bob", "cy"} {
		joined, err := svc.JoinRoom(ctx, &pb.JoinRoomRequest{RoomName: s.room, ParticipantName: who, Role: pb.Role_ROLE_VIEWER})
		ok(s, "JoinRoom", who+" joins as a viewer without a token", joined, err, func(r *pb.JoinRoomResponse) string {
			return expect(r.Token != "" && r.Role == pb.Role_ROLE_VIEWER && r.Identity == who, "unexpected answer %v", r)
		})
		if err != nil {
			continue
		}
		s.viewer[who] = joined.Token
		if err := s.stage.connect(who, joined.WsUrl, joined.Token); err != nil {
			s.r.fail(s.t.name, "JoinRoom", who+" connects to LiveKit", err.Error())
		}
	}
	_, err = svc.JoinRoom(as(ctx, s.viewer["ann"]), &pb.JoinRoomRequest{RoomName: s.room, ParticipantName: "ann", Role: pb.Role_ROLE_HOST})
	s.refused("JoinRoom", "a viewer makes itself host", err, permissionDenied, "")
	_, err = svc.JoinRoom(as(ctx, admin), &pb.JoinRoomRequest{RoomName: s.room, ParticipantName: "usurper", Role: pb.Role_ROLE_HOST})
	s.refused("JoinRoom", "a second host", err, alreadyExists, "")
}

func (s *show) rooms(ctx context.Context) {
	svc, nowhere := s.t.show, s.room+"-nowhere"
	got, err := svc.GetRoom(as(ctx, s.viewer["ann"]), &pb.GetRoomRequest{RoomName: s.room})
	ok(s, "GetRoom", "a viewer sees the room and its host", got, err, func(r *pb.GetRoomResponse) string {
		return expect(r.GetRoom().GetName() == s.room && r.GetRoom().GetHasHost(), "unexpected room %v", r.GetRoom())
	})
	_, err = svc.GetRoom(ctx, &pb.GetRoomRequest{RoomName: s.room})
	s.refused("GetRoom", "without a token", err, unauthenticated, "")
	_, err = svc.GetRoom(as(ctx, s.tokens.admin(nowhere)), &pb.GetRoomRequest{RoomName: nowhere})
	s.refused("GetRoom", "a room that does not exist", err, notFound, "Room not found")
	_, err = svc.GetRoom(as(ctx, s.viewer["ann"]), &pb.GetRoomRequest{RoomName: nowhere})
	s.refused("GetRoom", "another room than the token's", err, permissionDenied, "")
	_, err = svc.GetRoom(as(ctx, s.viewer["ann"]), &pb.GetRoomRequest{RoomName: "no spaces allowed"})
	s.refused("GetRoom", "a malformed room name", err, invalidArgument, "")

	listed, err := svc.ListRooms(as(ctx, s.tokens.lister()), &pb.ListRoomsRequest{})
	ok(s, "ListRooms", "the backend lists rooms", listed, err, func(r *pb.ListRoomsResponse) string {
		found := slices.ContainsFunc(r.Rooms, func(room *pb.Room) bool { return room.Name == s.room })
		return expect(found, "%s not among %d rooms", s.room, len(r.Rooms))
	})
	_, err = svc.ListRooms(as(ctx, s.viewer["ann"]), &pb.ListRoomsRequest{})
	s.refused("ListRooms", "a viewer lists rooms", err, permissionDenied, "roomList")
	_, err = svc.ListRooms(ctx, &pb.ListRoomsRequest{})
	s.refused("ListRooms", "without a token", err, unauthenticated, "")

	settings, err := svc.UpdateRoomSettings(as(ctx, s.hostToken), &pb.UpdateRoomSettingsRequest{RoomName: s.room, GuestLimit: ptr(uint32(2))})
	ok(s, "UpdateRoomSettings", "the host allows two guests", settings, err, func(r *pb.UpdateRoomSettingsResponse) string {
		return expect(r.GuestLimit == 2, "guest limit %d", r.GuestLimit)
	})
	_, err = svc.UpdateRoomSettings(as(ctx, s.hostToken), &pb.UpdateRoomSettingsRequest{RoomName: s.room, GuestLimit: ptr(uint32(0))})
	s.refused("UpdateRoomSettings", "a guest limit of 0", err, invalidArgument, "guestLimit")
	_, err = svc.UpdateRoomSettings(as(ctx, s.viewer["ann"]), &pb.UpdateRoomSettingsRequest{RoomName: s.room, GuestLimit: ptr(uint32(3))})
	s.refused("UpdateRoomSettings", "a viewer changes the settings", err, permissionDenied, "")
}

func (s *show) participants(ctx context.Context) {
	svc := s.t.show
	listed, err := svc.ListParticipants(as(ctx, s.viewer["bob"]), &pb.ListParticipantsRequest{RoomName: s.room})
	ok(s, "ListParticipants", "the connected viewers, as viewers", listed, err, func(r *pb.ListParticipantsResponse) string {
		roles := map[string]pb.Role{}
		// LiveKit's own permission message, as LiveKit's Go module defines it.
		grants := map[string]*livekit.ParticipantPermission{}
		for _, p := range r.Participants {
			roles[p.Identity], grants[p.Identity] = p.Role, p.GetPermission()
		}
		for _, who := range []string{"ann", "bob", "cy"} {
			if roles[who] != pb.Role_ROLE_VIEWER {
				return fmt.Sprintf("%s listed as %v in %v", who, roles[who], roles)
			}
			// The show is backstage: its viewers wait, subscribing to nothing until it goes live.
			if grants[who].GetCanSubscribe() || grants[who].GetCanPublish() || !grants[who].GetCanPublishData() {
				return fmt.Sprintf("%s, a waiting viewer, has LiveKit permission %v", who, grants[who])
			}
		}
		return ""
	})
	_, err = svc.ListParticipants(ctx, &pb.ListParticipantsRequest{RoomName: s.room})
	s.refused("ListParticipants", "without a token", err, unauthenticated, "")
	nowhere := s.room + "-nowhere"
	_, err = svc.ListParticipants(as(ctx, s.tokens.admin(nowhere)), &pb.ListParticipantsRequest{RoomName: nowhere})
	s.refused("ListParticipants", "a room that does not exist", err, notFound, "Room not found")
}

func (s *show) hands(ctx context.Context) {
	svc := s.t.show
	raised, err := svc.SetHandRaised(as(ctx, s.viewer["ann"]), &pb.SetHandRaisedRequest{RoomName: s.room, ParticipantIdentity: "ann", Raised: ptr(true)})
	ok(s, "SetHandRaised", "ann raises her hand", raised, err, func(r *pb.SetHandRaisedResponse) string {
		return expect(r.HandRaised && !r.Promoted, "unexpected answer %v", r)
	})
	_, err = svc.SetHandRaised(as(ctx, s.viewer["ann"]), &pb.SetHandRaisedRequest{RoomName: s.room, ParticipantIdentity: "ann"})
	s.refused("SetHandRaised", "without saying up or down", err, invalidArgument, "")
	_, err = svc.SetHandRaised(as(ctx, s.viewer["ann"]), &pb.SetHandRaisedRequest{RoomName: s.room, ParticipantIdentity: "bob", Raised: ptr(true)})
	s.refused("SetHandRaised", "ann raises bob's hand", err, permissionDenied, "participantIdentity")
	_, err = svc.SetHandRaised(as(ctx, s.hostToken), &pb.SetHandRaisedRequest{RoomName: s.room, ParticipantIdentity: host, Raised: ptr(true)})
	s.refused("SetHandRaised", "the host raises a hand", err, failedPrecondition, "Only viewers")

	place, err := svc.GetMyPlace(as(ctx, s.viewer["ann"]), &pb.GetMyPlaceRequest{RoomName: s.room})
	ok(s, "GetMyPlace", "ann reads her own place: a viewer with her hand up", place, err, func(r *pb.GetMyPlaceResponse) string {
		return expect(r.Identity == "ann" && r.Role == pb.Role_ROLE_VIEWER && r.HandRaised && r.State == pb.ShowState_SHOW_STATE_BACKSTAGE,
			"unexpected answer %v", r)
	})
	_, err = svc.GetMyPlace(as(ctx, s.tokens.admin(s.room)), &pb.GetMyPlaceRequest{RoomName: s.room})
	s.refused("GetMyPlace", "the room's admin, which has no place", err, permissionDenied, "no place in the show")

	renewed, err := svc.RenewToken(as(ctx, s.viewer["ann"]), &pb.RenewTokenRequest{RoomName: s.room})
	ok(s, "RenewToken", "ann renews her token: a viewer's, for ann", renewed, err, func(r *pb.RenewTokenResponse) string {
		return expect(r.Identity == "ann" && r.Role == pb.Role_ROLE_VIEWER && r.Token != "", "unexpected answer %v", r)
	})
	_, err = svc.RenewToken(as(ctx, s.tokens.admin(s.room)), &pb.RenewTokenRequest{RoomName: s.room})
	s.refused("RenewToken", "the room's admin, which has no place", err, permissionDenied, "no place in the show")

	hands, err := svc.ListRaisedHands(as(ctx, s.hostToken), &pb.ListRaisedHandsRequest{RoomName: s.room})
	ok(s, "ListRaisedHands", "the host sees ann's hand", hands, err, func(r *pb.ListRaisedHandsResponse) string {
		return expect(len(r.Hands) == 1 && r.Hands[0].Identity == "ann" && r.Hands[0].RaisedAt > 0, "hands %v", r.Hands)
	})
	_, err = svc.ListRaisedHands(as(ctx, s.viewer["bob"]), &pb.ListRaisedHandsRequest{RoomName: s.room})
	s.refused("ListRaisedHands", "a viewer lists the hands", err, permissionDenied, "")
}

func (s *show) stageRPCs(ctx context.Context) {
	svc, asHost := s.t.show, as(ctx, s.hostToken)
	invite := func(who string) (*pb.InviteGuestResponse, error) {
		return svc.InviteGuest(asHost, &pb.InviteGuestRequest{RoomName: s.room, ViewerIdentity: who, HostIdentity: host})
	}

	promoted, err := invite("ann")
	ok(s, "InviteGuest", "ann's hand is up, so she comes on stage", promoted, err, func(r *pb.InviteGuestResponse) string {
		return expect(r.Promoted && r.Token != "", "unexpected answer %v", r)
	})
	for _, who := range []string{"bob", "cy"} {
		invited, err := invite(who)
		ok(s, "InviteGuest", who+" is invited and must agree", invited, err, func(r *pb.InviteGuestResponse) string {
			return expect(!r.Promoted && r.Token == "" && r.ExpiresAt > 0, "unexpected answer %v", r)
		})
	}
	_, err = invite("ghost")
	s.refused("InviteGuest", "a viewer who is not connected", err, notFound, "Participant not found")
	_, err = svc.InviteGuest(as(ctx, s.viewer["ann"]), &pb.InviteGuestRequest{RoomName: s.room, ViewerIdentity: "bob", HostIdentity: host})
	s.refused("InviteGuest", "a guest invites", err, permissionDenied, "")

	accepted, err := svc.AcceptInvitation(as(ctx, s.viewer["bob"]), &pb.AcceptInvitationRequest{RoomName: s.room, ViewerIdentity: "bob"})
	ok(s, "AcceptInvitation", "bob accepts", accepted, err, func(r *pb.AcceptInvitationResponse) string {
		return expect(r.Token != "" && r.WsUrl != "", "unexpected answer %v", r)
	})
	_, err = svc.AcceptInvitation(as(ctx, s.viewer["bob"]), &pb.AcceptInvitationRequest{RoomName: s.room, ViewerIdentity: "bob"})
	s.refused("AcceptInvitation", "accepting twice", err, notFound, "No pending invitation")
	_, err = svc.AcceptInvitation(as(ctx, s.viewer["cy"]), &pb.AcceptInvitationRequest{RoomName: s.room})
	s.refused("AcceptInvitation", "without naming the viewer", err, invalidArgument, "")

	declined, err := svc.DeclineInvitation(as(ctx, s.viewer["cy"]), &pb.DeclineInvitationRequest{RoomName: s.room, ViewerIdentity: "cy"})
	ok(s, "DeclineInvitation", "cy declines", declined, err, func(r *pb.DeclineInvitationResponse) string {
		return expect(strings.Contains(r.Message, "declined"), "message %q", r.Message)
	})
	_, err = svc.DeclineInvitation(as(ctx, s.viewer["cy"]), &pb.DeclineInvitationRequest{RoomName: s.room, ViewerIdentity: "cy"})
	s.refused("DeclineInvitation", "declining twice", err, notFound, "No pending invitation")
	_, err = svc.DeclineInvitation(as(ctx, s.viewer["cy"]), &pb.DeclineInvitationRequest{RoomName: s.room, ViewerIdentity: "bob"})
	s.refused("DeclineInvitation", "for someone else", err, permissionDenied, "viewerIdentity")
	_, err = invite("cy")
	s.refused("InviteGuest", "the stage is full", err, permissionDenied, "already has a guest")

	room, err := svc.GetRoom(asHost, &pb.GetRoomRequest{RoomName: s.room})
	ok(s, "GetRoom", "ann and bob are on stage", room, err, func(r *pb.GetRoomResponse) string {
		guests := slices.Sorted(slices.Values(r.GetRoom().GetGuests()))
		return expect(slices.Equal(guests, []string{"ann", "bob"}) && r.GetRoom().GetHasGuest(), "guests %v", guests)
	})

	// bob publishes nothing (the runner's participants only listen): the host takes his
	// microphone away, and gives it back.
	mic := livekit.TrackSource_MICROPHONE
	_, err = svc.MuteGuestTrack(asHost, &pb.MuteGuestTrackRequest{RoomName: s.room, GuestIdentity: "bob", Source: mic})
	s.refused("MuteGuestTrack", "a track bob does not publish", err, notFound, "publishes no microphone track")
	_, err = svc.MuteGuestTrack(as(ctx, s.viewer["cy"]), &pb.MuteGuestTrackRequest{RoomName: s.room, GuestIdentity: "bob", Source: mic})
	s.refused("MuteGuestTrack", "a viewer mutes a guest", err, permissionDenied, "")
	locked, err := svc.MuteGuestTrack(asHost, &pb.MuteGuestTrackRequest{RoomName: s.room, GuestIdentity: "bob", Source: mic, Lock: true})
	ok(s, "MuteGuestTrack", "the host takes bob's microphone away", locked, err, func(r *pb.MuteGuestTrackResponse) string {
		return expect(slices.Equal(r.LockedSources, []livekit.TrackSource{mic}) && r.TrackSid == "", "unexpected answer %v", r)
	})
	_, err = svc.AllowGuestSource(as(ctx, s.viewer["bob"]), &pb.AllowGuestSourceRequest{RoomName: s.room, GuestIdentity: "bob", Source: mic})
	s.refused("AllowGuestSource", "bob gives it back to himself", err, permissionDenied, "Only the host")
	allowed, err := svc.AllowGuestSource(asHost, &pb.AllowGuestSourceRequest{RoomName: s.room, GuestIdentity: "bob", Source: mic})
	ok(s, "AllowGuestSource", "the host gives it back", allowed, err, func(r *pb.AllowGuestSourceResponse) string {
		return expect(len(r.LockedSources) == 0, "still locked %v", r.LockedSources)
	})

	demoted, err := svc.DemoteGuest(asHost, &pb.DemoteGuestRequest{RoomName: s.room, GuestIdentity: "ann", HostIdentity: host})
	ok(s, "DemoteGuest", "the host sends ann back to the audience", demoted, err, func(r *pb.DemoteGuestResponse) string {
		return expect(r.Token != "" && strings.Contains(r.Message, "demoted"), "unexpected answer %v", r)
	})
	_, err = svc.DemoteGuest(asHost, &pb.DemoteGuestRequest{RoomName: s.room, GuestIdentity: "cy", HostIdentity: host})
	s.refused("DemoteGuest", "someone who is not a guest", err, notFound, "Guest not found")
	_, err = svc.DemoteGuest(as(ctx, s.viewer["bob"]), &pb.DemoteGuestRequest{RoomName: s.room, GuestIdentity: "bob", HostIdentity: host})
	s.refused("DemoteGuest", "a guest acts as the host", err, permissionDenied, "")

	_, err = svc.StepDown(as(ctx, s.viewer["bob"]), &pb.StepDownRequest{RoomName: s.room, GuestIdentity: "ann"})
	s.refused("StepDown", "for someone else", err, permissionDenied, "guestIdentity")
	stepped, err := svc.StepDown(as(ctx, s.viewer["bob"]), &pb.StepDownRequest{RoomName: s.room, GuestIdentity: "bob"})
	ok(s, "StepDown", "bob steps down", stepped, err, func(r *pb.StepDownResponse) string {
		return expect(r.Token != "" && strings.Contains(r.Message, "stepped down"), "unexpected answer %v", r)
	})
	_, err = svc.StepDown(as(ctx, s.viewer["bob"]), &pb.StepDownRequest{RoomName: s.room, GuestIdentity: "bob"})
	s.refused("StepDown", "stepping down twice", err, notFound, "Guest not found")

	// ann comes back on stage (hand up, then invited) so that the host can remove her.
	_, err = svc.SetHandRaised(as(ctx, s.viewer["ann"]), &pb.SetHandRaisedRequest{RoomName: s.room, ParticipantIdentity: "ann", Raised: ptr(true)})
	ok(s, "SetHandRaised", "ann raises her hand again", &pb.SetHandRaisedResponse{}, err, nil)
	promoted, err = invite("ann")
	ok(s, "InviteGuest", "ann is back on stage", promoted, err, func(r *pb.InviteGuestResponse) string {
		return expect(r.Promoted, "not promoted: %v", r)
	})
	_, err = svc.RemoveGuest(asHost, &pb.RemoveGuestRequest{RoomName: s.room, GuestIdentity: "ann"})
	s.refused("RemoveGuest", "without naming the host", err, invalidArgument, "")
	removed, err := svc.RemoveGuest(asHost, &pb.RemoveGuestRequest{RoomName: s.room, GuestIdentity: "ann", HostIdentity: host})
	ok(s, "RemoveGuest", "the host removes ann from the room", removed, err, func(r *pb.RemoveGuestResponse) string {
		return expect(strings.Contains(r.Message, "removed"), "message %q", r.Message)
	})
	_, err = svc.RemoveGuest(asHost, &pb.RemoveGuestRequest{RoomName: s.room, GuestIdentity: "ann", HostIdentity: host})
	s.refused("RemoveGuest", "removing her twice", err, notFound, "Guest not found")

	_, err = svc.RemoveParticipant(as(ctx, s.viewer["cy"]), &pb.RemoveParticipantRequest{RoomName: s.room, Identity: "bob"})
	s.refused("RemoveParticipant", "a viewer removes another", err, permissionDenied, "")
	gone, err := svc.RemoveParticipant(asHost, &pb.RemoveParticipantRequest{RoomName: s.room, Identity: "bob"})
	ok(s, "RemoveParticipant", "the host removes bob", gone, err, nil)
	_, err = svc.RemoveParticipant(asHost, &pb.RemoveParticipantRequest{RoomName: s.room, Identity: "ghost"})
	s.refused("RemoveParticipant", "someone who is not connected", err, notFound, "Participant not found")
	listed, err := svc.ListParticipants(asHost, &pb.ListParticipantsRequest{RoomName: s.room})
	ok(s, "ListParticipants", "only cy is left", listed, err, func(r *pb.ListParticipantsResponse) string {
		var left []string
		for _, p := range r.Participants {
			left = append(left, p.Identity)
		}
		return expect(slices.Equal(left, []string{"cy"}), "participants %v", left)
	})
}

// moderation: cy becomes a moderator, bans dan (who connects for it; its token is refused until
// the ban is lifted) and lifts the ban; the host dismisses cy again.
func (s *show) moderation(ctx context.Context) {
	svc, asHost, asCy := s.t.show, as(ctx, s.hostToken), as(ctx, s.viewer["cy"])
	_, err := svc.AppointModerator(asCy, &pb.AppointModeratorRequest{RoomName: s.room, Identity: "cy"})
	s.refused("AppointModerator", "a viewer appoints itself", err, permissionDenied, "Only the host")
	appointed, err := svc.AppointModerator(asHost, &pb.AppointModeratorRequest{RoomName: s.room, Identity: "cy"})
	ok(s, "AppointModerator", "the host makes cy a moderator", appointed, err, func(r *pb.AppointModeratorResponse) string {
		return expect(r.Message == "cy is now a moderator", "message %q", r.Message)
	})
	_, err = svc.AppointModerator(asHost, &pb.AppointModeratorRequest{RoomName: s.room, Identity: "cy"})
	s.refused("AppointModerator", "appointing cy twice", err, alreadyExists, "already a moderator")
	room, err := svc.GetRoom(asCy, &pb.GetRoomRequest{RoomName: s.room})
	ok(s, "GetRoom", "cy is listed as a moderator", room, err, func(r *pb.GetRoomResponse) string {
		return expect(slices.Equal(r.GetRoom().GetModerators(), []string{"cy"}), "moderators %v", r.GetRoom().GetModerators())
	})

	joined, err := svc.JoinRoom(ctx, &pb.JoinRoomRequest{RoomName: s.room, ParticipantName: "dan", Role: pb.Role_ROLE_VIEWER})
	ok(s, "JoinRoom", "dan joins as a viewer", joined, err, nil)
	if err != nil {
		return
	}
	if err := s.stage.connect("dan", joined.WsUrl, joined.Token); err != nil {
		s.r.fail(s.t.name, "JoinRoom", "dan connects to LiveKit", err.Error())
	}
	banned, err := svc.RemoveParticipant(asCy, &pb.RemoveParticipantRequest{RoomName: s.room, Identity: "dan", Ban: true})
	ok(s, "RemoveParticipant", "the moderator removes and bans dan", banned, err, nil)
	_, err = svc.JoinRoom(ctx, &pb.JoinRoomRequest{RoomName: s.room, ParticipantName: "dan", Role: pb.Role_ROLE_VIEWER})
	s.refused("JoinRoom", "dan, banned, asks for a token", err, permissionDenied, "dan is banned from this room")
	asDan := as(ctx, joined.Token)
	_, err = svc.GetRoom(asDan, &pb.GetRoomRequest{RoomName: s.room})
	s.refused("GetRoom", "dan, banned, reads the room with its token", err, permissionDenied, "dan is banned from this room")
	_, err = svc.ListParticipants(asDan, &pb.ListParticipantsRequest{RoomName: s.room})
	s.refused("ListParticipants", "dan, banned, lists the room with its token", err, permissionDenied, "dan is banned from this room")
	_, err = svc.RemoveParticipant(asCy, &pb.RemoveParticipantRequest{RoomName: s.room, Identity: host, Ban: true})
	s.refused("RemoveParticipant", "the moderator bans the host", err, permissionDenied, "cannot remove or ban the host")
	bans, err := svc.ListBans(asHost, &pb.ListBansRequest{RoomName: s.room})
	ok(s, "ListBans", "the host sees dan's ban", bans, err, func(r *pb.ListBansResponse) string {
		return expect(len(r.Bans) == 1 && r.Bans[0].Identity == "dan" && r.Bans[0].BannedBy == "cy" && r.Bans[0].BannedAt > 0,
			"bans %v", r.Bans)
	})
	asBob := as(ctx, s.viewer["bob"]) // removed earlier, not banned: a viewer's token still
	_, err = svc.ListBans(asBob, &pb.ListBansRequest{RoomName: s.room})
	s.refused("ListBans", "a viewer lists the bans", err, permissionDenied, "Only the host or a moderator")
	s.history(asCy, asBob)
	lifted, err := svc.UnbanParticipant(asCy, &pb.UnbanParticipantRequest{RoomName: s.room, Identity: "dan"})
	ok(s, "UnbanParticipant", "the moderator lifts dan's ban", lifted, err, func(r *pb.UnbanParticipantResponse) string {
		return expect(r.Message == "dan may join again", "message %q", r.Message)
	})
	_, err = svc.UnbanParticipant(asCy, &pb.UnbanParticipantRequest{RoomName: s.room, Identity: "dan"})
	s.refused("UnbanParticipant", "lifting it twice", err, notFound, "dan is not banned")
	room, err = svc.GetRoom(asDan, &pb.GetRoomRequest{RoomName: s.room})
	ok(s, "GetRoom", "dan's token reads the room again", room, err, nil)

	_, err = svc.DismissModerator(asCy, &pb.DismissModeratorRequest{RoomName: s.room, Identity: "cy"})
	s.refused("DismissModerator", "a moderator dismisses itself", err, permissionDenied, "Only the host")
	dismissed, err := svc.DismissModerator(asHost, &pb.DismissModeratorRequest{RoomName: s.room, Identity: "cy"})
	ok(s, "DismissModerator", "the host dismisses cy", dismissed, err, func(r *pb.DismissModeratorResponse) string {
		return expect(r.Message == "cy is no longer a moderator", "message %q", r.Message)
	})
	_, err = svc.DismissModerator(asHost, &pb.DismissModeratorRequest{RoomName: s.room, Identity: "cy"})
	s.refused("DismissModerator", "dismissing cy twice", err, notFound, "cy is not a moderator")
}

func (s *show) recordings(ctx context.Context) {
	svc, asHost, asCy := s.t.show, as(ctx, s.hostToken), as(ctx, s.viewer["cy"])
	_, err := svc.StartRecording(asHost, &pb.StartRecordingRequest{RoomName: s.room, Layout: pb.RecordingLayout(7)})
	s.refused("StartRecording", "a layout the contract does not have", err, invalidArgument, "layout")
	_, err = svc.StartRecording(asCy, &pb.StartRecordingRequest{RoomName: s.room, Layout: pb.RecordingLayout_RECORDING_LAYOUT_GRID})
	s.refused("StartRecording", "a viewer records", err, permissionDenied, "")
	// Without a layout the show is recorded with the default one, the active speaker's.
	started, err := svc.StartRecording(asHost, &pb.StartRecordingRequest{RoomName: s.room})
	ok(s, "StartRecording", "the host records the show without choosing a layout", started, err, func(r *pb.StartRecordingResponse) string {
		rec := r.GetRecording()
		return expect(rec.GetRecordingId() != "" && rec.GetRoomName() == s.room && rec.GetLayout() == pb.RecordingLayout_RECORDING_LAYOUT_SPEAKER &&
			rec.GetStatus() == livekit.EgressStatus_EGRESS_STARTING, "unexpected recording %v", rec)
	})
	_, err = svc.StartRecording(asHost, &pb.StartRecordingRequest{RoomName: s.room, Layout: pb.RecordingLayout_RECORDING_LAYOUT_GRID})
	s.refused("StartRecording", "a second recording at once", err, failedPrecondition, "already being recorded")

	listed, err := svc.ListRecordings(asHost, &pb.ListRecordingsRequest{RoomName: s.room})
	ok(s, "ListRecordings", "the host sees the recording", listed, err, func(r *pb.ListRecordingsResponse) string {
		return expect(len(r.Recordings) == 1 && r.Recordings[0].RecordingId == started.GetRecording().GetRecordingId(),
			"recordings %v", r.Recordings)
	})
	_, err = svc.ListRecordings(asCy, &pb.ListRecordingsRequest{RoomName: s.room})
	s.refused("ListRecordings", "a viewer lists recordings", err, permissionDenied, "")

	_, err = svc.StopRecording(asCy, &pb.StopRecordingRequest{RoomName: s.room})
	s.refused("StopRecording", "a viewer stops the recording", err, permissionDenied, "")
	stopped, err := svc.StopRecording(asHost, &pb.StopRecordingRequest{RoomName: s.room})
	ok(s, "StopRecording", "the host stops it", stopped, err, func(r *pb.StopRecordingResponse) string {
		rec := r.GetRecording()
		return expect(rec.GetRecordingId() == started.GetRecording().GetRecordingId() && rec.GetStatus() >= livekit.EgressStatus_EGRESS_ENDING,
			"stopped %v", rec)
	})
	nowhere := s.room + "-nowhere"
	_, err = svc.StopRecording(as(ctx, s.tokens.admin(nowhere)), &pb.StopRecordingRequest{RoomName: nowhere})
	s.refused("StopRecording", "in a room that does not exist", err, notFound, "Room not found")
}

// streams: the service runs with the destinations youtube and twitch configured (their URLs and
// stream keys stay on the service); a caller only names them.
func (s *show) streams(ctx context.Context) {
	svc, asHost, asCy := s.t.show, as(ctx, s.hostToken), as(ctx, s.viewer["cy"])
	_, err := svc.StartStream(asHost, &pb.StartStreamRequest{RoomName: s.room, Destinations: []string{"myspace"}})
	s.refused("StartStream", "a destination the service does not have", err, invalidArgument, "configured: twitch, youtube")
	_, err = svc.StartStream(asCy, &pb.StartStreamRequest{RoomName: s.room, Destinations: []string{"youtube"}})
	s.refused("StartStream", "a viewer streams", err, permissionDenied, "")
	started, err := svc.StartStream(asHost, &pb.StartStreamRequest{RoomName: s.room, Destinations: []string{"youtube"}})
	ok(s, "StartStream", "the host streams the show to youtube", started, err, func(r *pb.StartStreamResponse) string {
		st := r.GetStream()
		return expect(st.GetStreamId() != "" && st.GetRoomName() == s.room && len(st.GetDestinations()) == 1 &&
			st.GetDestinations()[0] == "youtube" && st.GetStatus() == livekit.EgressStatus_EGRESS_STARTING, "unexpected stream %v", st)
	})
	_, err = svc.StartStream(asHost, &pb.StartStreamRequest{RoomName: s.room, Destinations: []string{"twitch"}})
	s.refused("StartStream", "a second stream at once", err, failedPrecondition, "already being streamed")

	_, err = svc.UpdateStream(asHost, &pb.UpdateStreamRequest{RoomName: s.room, RemoveDestinations: []string{"twitch"}})
	s.refused("UpdateStream", "removing a destination it does not stream to", err, invalidArgument, "Not streaming to twitch")
	_, err = svc.UpdateStream(asCy, &pb.UpdateStreamRequest{RoomName: s.room, AddDestinations: []string{"twitch"}})
	s.refused("UpdateStream", "a viewer changes the destinations", err, permissionDenied, "")
	updated, err := svc.UpdateStream(asHost, &pb.UpdateStreamRequest{
		RoomName: s.room, AddDestinations: []string{"twitch"}, RemoveDestinations: []string{"youtube"},
	})
	ok(s, "UpdateStream", "the host moves the stream from youtube to twitch", updated, err, func(r *pb.UpdateStreamResponse) string {
		st := r.GetStream()
		return expect(st.GetStreamId() == started.GetStream().GetStreamId() && len(st.GetDestinations()) == 1 &&
			st.GetDestinations()[0] == "twitch", "updated %v", st)
	})

	listed, err := svc.ListStreams(asHost, &pb.ListStreamsRequest{RoomName: s.room})
	ok(s, "ListStreams", "the host sees the stream and the destinations", listed, err, func(r *pb.ListStreamsResponse) string {
		return expect(len(r.Streams) == 1 && r.Streams[0].StreamId == started.GetStream().GetStreamId() &&
			strings.Join(r.AvailableDestinations, ",") == "twitch,youtube", "streams %v, destinations %v", r.Streams, r.AvailableDestinations)
	})
	_, err = svc.ListStreams(asCy, &pb.ListStreamsRequest{RoomName: s.room})
	s.refused("ListStreams", "a viewer lists streams", err, permissionDenied, "")

	_, err = svc.StopStream(asCy, &pb.StopStreamRequest{RoomName: s.room})
	s.refused("StopStream", "a viewer stops the stream", err, permissionDenied, "")
	stopped, err := svc.StopStream(asHost, &pb.StopStreamRequest{RoomName: s.room})
	ok(s, "StopStream", "the host stops it", stopped, err, func(r *pb.StopStreamResponse) string {
		st := r.GetStream()
		return expect(st.GetStreamId() == started.GetStream().GetStreamId() && st.GetStatus() >= livekit.EgressStatus_EGRESS_ENDING,
			"stopped %v", st)
	})
	nowhere := s.room + "-nowhere"
	_, err = svc.StopStream(as(ctx, s.tokens.admin(nowhere)), &pb.StopStreamRequest{RoomName: nowhere})
	s.refused("StopStream", "in a room that does not exist", err, notFound, "Room not found")
}

func (s *show) endShow(ctx context.Context) {
	svc, asHost, asCy := s.t.show, as(ctx, s.hostToken), as(ctx, s.viewer["cy"])
	admin := as(ctx, s.tokens.admin(s.room))
	_, err := svc.GoLive(asCy, &pb.GoLiveRequest{RoomName: s.room})
	s.refused("GoLive", "a viewer takes the show live", err, permissionDenied, "")
	live, err := svc.GoLive(asHost, &pb.GoLiveRequest{RoomName: s.room})
	ok(s, "GoLive", "the host takes the show live", live, err, func(r *pb.GoLiveResponse) string {
		return expect(r.State == pb.ShowState_SHOW_STATE_LIVE && r.StartedAt > 0, "went live %v", r)
	})
	again, err := svc.GoLive(asHost, &pb.GoLiveRequest{RoomName: s.room})
	ok(s, "GoLive", "going live twice answers the same", again, err, func(r *pb.GoLiveResponse) string {
		return expect(r.StartedAt == live.GetStartedAt(), "started %d, then %d", live.GetStartedAt(), r.StartedAt)
	})
	nowhere := s.room + "-nowhere"
	_, err = svc.GoLive(as(ctx, s.tokens.admin(nowhere)), &pb.GoLiveRequest{RoomName: nowhere})
	s.refused("GoLive", "in a room that does not exist", err, notFound, "Room not found")

	_, err = svc.EndShow(asCy, &pb.EndShowRequest{RoomName: s.room})
	s.refused("EndShow", "a viewer ends the show", err, permissionDenied, "")
	_, err = svc.DeleteRoom(asCy, &pb.DeleteRoomRequest{RoomName: s.room})
	s.refused("DeleteRoom", "a viewer ends the show", err, permissionDenied, "")
	ended, err := svc.EndShow(asHost, &pb.EndShowRequest{RoomName: s.room})
	ok(s, "EndShow", "the host ends the show", ended, err, func(r *pb.EndShowResponse) string {
		return expect(r.State == pb.ShowState_SHOW_STATE_ENDED && r.EndedAt > 0, "ended %v", r)
	})
	deleted, err := svc.DeleteRoom(admin, &pb.DeleteRoomRequest{RoomName: s.room})
	ok(s, "DeleteRoom", "ending it again changes nothing", deleted, err, nil)
	_, err = svc.EndShow(as(ctx, s.tokens.admin(nowhere)), &pb.EndShowRequest{RoomName: nowhere})
	s.refused("EndShow", "in a room that does not exist", err, notFound, "Room not found")
	room, err := svc.GetRoom(admin, &pb.GetRoomRequest{RoomName: s.room})
	ok(s, "GetRoom", "the ended show stays readable", room, err, func(r *pb.GetRoomResponse) string {
		got := r.GetRoom()
		return expect(got.GetState() == pb.ShowState_SHOW_STATE_ENDED && got.GetEndedAt() == ended.GetEndedAt() &&
			got.GetStartedAt() == live.GetStartedAt() && !got.GetHasHost(), "room %v", got)
	})
	_, err = svc.JoinRoom(ctx, &pb.JoinRoomRequest{RoomName: s.room, ParticipantName: "latecomer", Role: pb.Role_ROLE_VIEWER})
	s.refused("JoinRoom", "a viewer joins the ended show", err, failedPrecondition, "has ended")
	_, err = svc.GoLive(admin, &pb.GoLiveRequest{RoomName: s.room})
	s.refused("GoLive", "the ended show", err, failedPrecondition, "has ended")
}

// withoutEgress: with no egress worker behind LiveKit, recording is refused as unavailable (safe
// to retry) and nothing is left half-started.
func (s *show) withoutEgress(ctx context.Context) {
	svc, admin := s.t.show, as(ctx, s.tokens.admin(s.room))
	joined, err := svc.JoinRoom(admin, &pb.JoinRoomRequest{RoomName: s.room, ParticipantName: host, Role: pb.Role_ROLE_HOST})
	ok(s, "JoinRoom", "the backend makes the host", joined, err, nil)
	_, err = svc.StartRecording(admin, &pb.StartRecordingRequest{RoomName: s.room, Layout: pb.RecordingLayout_RECORDING_LAYOUT_GRID})
	s.refused("StartRecording", "no egress worker answers", err, unavailable, "egress worker")
	listed, err := svc.ListRecordings(admin, &pb.ListRecordingsRequest{RoomName: s.room})
	ok(s, "ListRecordings", "no recording was left half-started", listed, err, func(r *pb.ListRecordingsResponse) string {
		return expect(len(r.Recordings) == 0, "recordings %v", r.Recordings)
	})
	_, err = svc.StartStream(admin, &pb.StartStreamRequest{RoomName: s.room, Destinations: []string{"youtube", "twitch"}})
	s.refused("StartStream", "no egress worker answers", err, unavailable, "Streaming needs a LiveKit egress worker")
	streams, err := svc.ListStreams(admin, &pb.ListStreamsRequest{RoomName: s.room})
	ok(s, "ListStreams", "no stream was left half-started", streams, err, func(r *pb.ListStreamsResponse) string {
		return expect(len(r.Streams) == 0, "streams %v", r.Streams)
	})
	ended, err := svc.DeleteRoom(admin, &pb.DeleteRoomRequest{RoomName: s.room})
	ok(s, "DeleteRoom", "the backend ends the show", ended, err, nil)
}

func ptr[T any](v T) *T { return &v }

// history reads the show's history as the moderator, in pages of two: the ban just made is its
// newest entry, no entry comes twice, and a viewer may not read it.
func (s *show) history(asModerator, asViewer context.Context) {
	svc := s.t.show
	var entries []*pb.HistoryEntry
	token, pages := "", 0
	for {
		page, err := svc.ListShowEvents(asModerator, &pb.ListShowEventsRequest{RoomName: s.room, PageSize: 2, PageToken: token})
		if err != nil {
			ok(s, "ListShowEvents", "the moderator reads the history in pages", page, err, nil)
			return
		}
		entries, token, pages = append(entries, page.Entries...), page.NextPageToken, pages+1
		if token == "" || pages > 1000 {
			break
		}
	}
	ok(s, "ListShowEvents", "the moderator reads the history in pages", entries, nil, func(all []*pb.HistoryEntry) string {
		for i, e := range all {
			if e.Sequence <= 0 || (i > 0 && e.Sequence <= all[i-1].Sequence) {
				return fmt.Sprintf("entry %d out of order: %v", i, e)
			}
		}
		last := all[len(all)-1:]
		return expect(len(last) == 1 && last[0].Type == "participant_removed" && last[0].TargetIdentity == "dan" &&
			last[0].ActorIdentity == "cy", "newest entries %v", last)
	})
	_, err := svc.ListShowEvents(asViewer, &pb.ListShowEventsRequest{RoomName: s.room})
	s.refused("ListShowEvents", "a viewer reads the history", err, permissionDenied, "Only the host or a moderator")
	_, err = svc.ListShowEvents(asModerator, &pb.ListShowEventsRequest{RoomName: s.room, PageToken: "nope"})
	s.refused("ListShowEvents", "a page token it was never given", err, invalidArgument, "pageToken")
}
