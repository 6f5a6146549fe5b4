// SPDX-License-Identifier: (GPL-2.0 OR MIT)
/*
 * dartpass-install: the app that activates (or deactivates) the dartpass DriverKit
 * extension. macOS installs a dext only at the request of an app that carries it in
 * its Contents/Library/SystemExtensions/ and sits in /Applications; this is that app,
 * and nothing else. It has no window: run it from a terminal (docs/macos.md, Load).
 *
 *   /Applications/dartpass-install.app/Contents/MacOS/dartpass-install [activate|deactivate]
 *
 * Exit status: 0 done; 1 the request failed; 2 usage; 3 done, but it takes effect only
 * after a restart. A request that needs the user's approval waits for it (Ctrl-C
 * stops waiting; the request then stays with the system as Apple describes below).
 *
 * Written on Linux without the macOS SDK: never compiled or run (docs/macos.md).
 *
 * Apple's documentation followed:
 *  https://developer.apple.com/documentation/systemextensions/installing-system-extensions-and-drivers
 *  https://developer.apple.com/documentation/systemextensions/ossystemextensionrequest
 *  https://developer.apple.com/documentation/systemextensions/ossystemextensionrequestdelegate
 *  https://developer.apple.com/documentation/systemextensions/ossystemextensionmanager
 */
#import <Foundation/Foundation.h>
#import <SystemExtensions/SystemExtensions.h>
#include <stdio.h>

/* The dext's CFBundleIdentifier (provider/macos/Info.plist). */
static NSString *const kDartpassDext = @"org.dartpass.driver";

enum {
	DP_EXIT_DONE = 0,
	DP_EXIT_FAILED = 1,
	DP_EXIT_USAGE = 2,
	DP_EXIT_REBOOT = 3,
};

@interface DPInstaller : NSObject <OSSystemExtensionRequestDelegate>
@property (nonatomic) BOOL activate;
@property (nonatomic) BOOL finished;
@property (nonatomic) int status;
@end

/* What the usual failures mean here; the codes are OSSystemExtensionErrorDomain's. */
static const char *dp_hint(NSError *error)
{
	if (![error.domain isEqualToString:OSSystemExtensionErrorDomain])
		return NULL;
	switch (error.code) {
	case OSSystemExtensionErrorMissingEntitlement:
		return "this app lacks com.apple.developer.system-extension.install, or its"
		       " profile does not grant it (APP_PROFILE=, docs/macos.md Sign)";
	case OSSystemExtensionErrorUnsupportedParentBundleLocation:
		return "the app must be in /Applications (make -C provider/macos install-app)";
	case OSSystemExtensionErrorExtensionNotFound:
		return "no org.dartpass.driver.dext in Contents/Library/SystemExtensions, or"
		       " (deactivate) it was activated by another app";
	case OSSystemExtensionErrorCodeSignatureInvalid:
	case OSSystemExtensionErrorValidationFailed:
		return "the dext's signature, entitlements or Info.plist were refused: see"
		       " log show --last 5m --predicate 'process == \"sysextd\" OR"
		       " process == \"kernelmanagerd\"'";
	case OSSystemExtensionErrorForbiddenBySystemPolicy:
		return "a configuration profile forbids this extension";
	case OSSystemExtensionErrorRequestSuperseded:
		return "another request for the same extension is pending";
	case OSSystemExtensionErrorAuthorizationRequired:
		return "the system could not obtain authorization";
	default:
		return NULL;
	}
}

@implementation DPInstaller

/*
 * Another version of org.dartpass.driver is active: this app carries the one to run,
 * so it replaces it (the user may still be asked, and a restart may be needed).
 * https://developer.apple.com/documentation/systemextensions/ossystemextensionrequestdelegate/request(_:actionforreplacingextension:withextension:)
 * https://developer.apple.com/documentation/systemextensions/ossystemextensionrequest/replacementaction
 * https://developer.apple.com/documentation/systemextensions/ossystemextensionproperties
 */
- (OSSystemExtensionReplacementAction)request:(OSSystemExtensionRequest *)request
		  actionForReplacingExtension:(OSSystemExtensionProperties *)existing
				withExtension:(OSSystemExtensionProperties *)ext
{
	printf("dartpass-install: replacing %s %s (%s) with %s (%s)\n",
	       existing.bundleIdentifier.UTF8String,
	       existing.bundleShortVersion.UTF8String, existing.bundleVersion.UTF8String,
	       ext.bundleShortVersion.UTF8String, ext.bundleVersion.UTF8String);
	return OSSystemExtensionReplacementActionReplace;
}

/*
 * Activation waits for the user: it "remains pending until the user grants or denies
 * permission, or until the app quits", so the app keeps running and reports the result.
 * https://developer.apple.com/documentation/systemextensions/ossystemextensionrequestdelegate/requestneedsuserapproval(_:)
 */
- (void)requestNeedsUserApproval:(OSSystemExtensionRequest *)request
{
	printf("dartpass-install: %s needs your approval: open System Settings > Privacy &"
	       " Security (on recent macOS: General > Login Items & Extensions), allow"
	       " it, and this finishes. Ctrl-C stops waiting.\n",
	       request.identifier.UTF8String);
	fflush(stdout);
}

/*
 * https://developer.apple.com/documentation/systemextensions/ossystemextensionrequestdelegate/request(_:didfinishwithresult:)
 * https://developer.apple.com/documentation/systemextensions/ossystemextensionrequest/result
 */
- (void)request:(OSSystemExtensionRequest *)request
	didFinishWithResult:(OSSystemExtensionRequestResult)result
{
	const char *what = self.activate ? "activated" : "deactivated";

	if (result == OSSystemExtensionRequestWillCompleteAfterReboot) {
		printf("dartpass-install: %s will be %s after the next restart\n",
		       request.identifier.UTF8String, what);
		self.status = DP_EXIT_REBOOT;
	} else {
		printf("dartpass-install: %s %s\n", request.identifier.UTF8String, what);
		self.status = DP_EXIT_DONE;
	}
	self.finished = YES;
}

/*
 * https://developer.apple.com/documentation/systemextensions/ossystemextensionrequestdelegate/request(_:didfailwitherror:)
 * https://developer.apple.com/documentation/systemextensions/ossystemextensionerror
 */
- (void)request:(OSSystemExtensionRequest *)request didFailWithError:(NSError *)error
{
	const char *hint = dp_hint(error);

	fprintf(stderr, "dartpass-install: %s of %s failed: %s (%s %ld)\n",
		self.activate ? "activation" : "deactivation", request.identifier.UTF8String,
		error.localizedDescription.UTF8String, error.domain.UTF8String,
		(long)error.code);
	if (hint)
		fprintf(stderr, "dartpass-install: %s\n", hint);
	self.status = DP_EXIT_FAILED;
	self.finished = YES;
}

@end

static int usage(void)
{
	fprintf(stderr, "usage: dartpass-install [activate|deactivate]\n");
	return DP_EXIT_USAGE;
}

/*
 * Not a hard check: with systemextensionsctl developer mode on, macOS lets a dext be
 * activated from an app anywhere, so outside /Applications this only warns.
 * https://developer.apple.com/documentation/driverkit/debugging-and-testing-system-extensions
 * https://developer.apple.com/documentation/systemextensions/ossystemextensionerror/code/unsupportedparentbundlelocation
 */
static void dp_check_bundle(void)
{
	NSString *app = NSBundle.mainBundle.bundlePath;
	NSString *dext = [app stringByAppendingPathComponent:
		@"Contents/Library/SystemExtensions/org.dartpass.driver.dext"];

	if (![app.stringByDeletingLastPathComponent isEqualToString:@"/Applications"])
		fprintf(stderr, "dartpass-install: warning: %s is not in /Applications; macOS"
			" refuses that unless systemextensionsctl developer mode is on\n",
			app.UTF8String);
	if (![NSFileManager.defaultManager fileExistsAtPath:dext])
		fprintf(stderr, "dartpass-install: warning: %s is missing\n", dext.UTF8String);
}

int main(int argc, char **argv)
{
	@autoreleasepool {
		DPInstaller *installer = [DPInstaller new];
		OSSystemExtensionRequest *req;

		if (argc > 2)
			return usage();
		if (argc < 2 || !strcmp(argv[1], "activate"))
			installer.activate = YES;
		else if (!strcmp(argv[1], "deactivate"))
			installer.activate = NO;
		else
			return usage();
		dp_check_bundle();

		/*
		 * The delegate's methods run on the main queue, which the run loop below
		 * serves; they set finished, and the loop ends.
		 * https://developer.apple.com/documentation/systemextensions/ossystemextensionrequest/activationrequest(forextensionwithidentifier:queue:)
		 * https://developer.apple.com/documentation/systemextensions/ossystemextensionrequest/deactivationrequest(forextensionwithidentifier:queue:)
		 * https://developer.apple.com/documentation/systemextensions/ossystemextensionrequest/delegate
		 * https://developer.apple.com/documentation/systemextensions/ossystemextensionmanager/submitrequest(_:)
		 */
		if (installer.activate)
			req = [OSSystemExtensionRequest
				activationRequestForExtension:kDartpassDext
							queue:dispatch_get_main_queue()];
		else
			req = [OSSystemExtensionRequest
				deactivationRequestForExtension:kDartpassDext
							  queue:dispatch_get_main_queue()];
		req.delegate = installer;	/* weak: installer lives to the end of main */
		printf("dartpass-install: %s %s\n",
		       installer.activate ? "activating" : "deactivating",
		       kDartpassDext.UTF8String);
		fflush(stdout);
		[OSSystemExtensionManager.sharedManager submitRequest:req];

		/*
		 * The main run loop serves the main dispatch queue; each turn handles at
		 * least one source, then the flag is looked at again.
		 * https://developer.apple.com/documentation/foundation/runloop/run(mode:before:)
		 * https://developer.apple.com/documentation/dispatch/dispatch_get_main_queue
		 */
		while (!installer.finished &&
		       [NSRunLoop.mainRunLoop runMode:NSDefaultRunLoopMode
					   beforeDate:NSDate.distantFuture])
			;
		return installer.finished ? installer.status : DP_EXIT_FAILED;
	}
}
