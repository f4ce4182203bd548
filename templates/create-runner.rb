# Creates gascale's instance runner, or finds the one a previous run created,
# and prints its runner authentication token (glrt-..., or <prefix>-glrt-...
# with a custom instance token prefix) on a line of its own.
# Run by the bootstrap through `gitlab-rails runner`; its parameters come as
# JSON in GASCALE_RUNNER_PARAMS so no value is ever spliced into Ruby code.
require 'json'

params = JSON.parse(ENV.fetch('GASCALE_RUNNER_PARAMS'))
user = User.find_by_username('root') or abort('gascale: the root user does not exist yet')

runner = Ci::Runner.instance_type.find_by(description: params.fetch('description'))
# A runner created before is reused whatever its token's prefix: with the
# admin setting instance_token_prefix GitLab issues "<prefix>-glrt-..."
# (gitlab lib/authn/token_field/prefix_helper.rb, prepend_instance_prefix).
unless runner
  create = {
    runner_type: 'instance_type',
    description: params.fetch('description'),
    tag_list: params.fetch('tags'),
    run_untagged: params.fetch('run_untagged'),
    locked: params.fetch('locked'),
    access_level: params.fetch('access_level'),
    maximum_timeout: params['maximum_timeout'],
    paused: params.fetch('paused')
  }.compact
  # Admin mode (on by default since GitLab 18) refuses admin actions outside
  # an admin session; a rails runner has none, so bypass it for root here.
  result = Gitlab::SafeRequestStore.ensure_request_store do
    Gitlab::Auth::CurrentUserMode.bypass_session!(user.id) do
      Ci::Runners::CreateRunnerService.new(user: user, params: create).execute
    end
  end
  abort("gascale: creating the runner failed: #{result.message}") unless result.success?
  runner = result.payload[:runner]
end

puts "GASCALE_RUNNER_TOKEN=#{runner.token}"
